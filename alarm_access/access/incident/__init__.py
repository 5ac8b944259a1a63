"""The `incident` access type: AIOps incident sync messages from a broker queue, stored idempotently and in
version order (spec event-alert-incident §3; docs/incident_access.md)."""
