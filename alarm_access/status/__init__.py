"""The status page of a running access service (`/status` on the `--metrics-port` server, `/status.json`,
and the Django admin's "Access status" page): `model` (the rows and the thread-safe board), `collect` (the
process's board plus the metrics registry), `render` (pure HTML)."""
