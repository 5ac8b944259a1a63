"""`celery -A alarm_access ...` finds the app here (Celery looks for `<package>.celery`); see `tasks`."""

from alarm_access.tasks import app

__all__ = ["app"]
