"""Django settings: every value comes from the environment, with defaults that run with no service.

Only `alarm_access.kernel.config` reads `settings.ALARM_ACCESS`; nothing else below the entry points does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ALARM_ACCESS_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)  # the default SQLite file and the embedded Redis live here

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "alarm-access-development-only-key")
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "alarm_access",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "alarm_access_project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

_database_url = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'alarm_access.sqlite3'}")
try:
    # long-running services keep their connection (a reconnect per message cost half of an incident's apply
    # time); every use after `close_old_connections()` checks it first, so a restarted database is survived
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=300, conn_health_checks=True)}
except ValueError as _error:  # an unknown scheme: manage.py turns this into one line and exit 2
    raise ImproperlyConfigured(f"DATABASE_URL: {_error}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    import pymysql

    pymysql.install_as_MySQLdb()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {LOG_LEVEL!r}")
try:  # logfmt (default) or json: one line per record either way (alarm_access.logs)
    from alarm_access.logs import log_format

    LOG_FORMAT = log_format(os.environ.get("ALARM_ACCESS_LOG_FORMAT"))
except ValueError as _error:  # manage.py turns this into one line and exit 2
    raise ImproperlyConfigured(str(_error)) from None
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"structured": {"()": "alarm_access.logs.formatter", "kind": LOG_FORMAT}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}

# The admin's "Access status" page: base URLs of the `run_access --metrics-port` servers whose /status.json it shows
ALARM_ACCESS_STATUS_URLS = [url.strip() for url in os.environ.get("ALARM_ACCESS_STATUS_URLS", "").split(",")
                            if url.strip()]

# Raw access settings; `alarm_access.kernel.config.AccessConfig.build` validates and freezes them.
ALARM_ACCESS: dict[str, Any] = {
    "REDIS_URL": os.environ.get("REDIS_URL", ""),
    "KEY_PREFIX": os.environ.get("ALARM_ACCESS_KEY_PREFIX", "bkmonitorv3.ee"),
    # the deployment cluster (the original's names; BK_MONITOR_ prefixed as the original's env)
    "CLUSTER_NAME": os.environ.get("BK_MONITOR_ALARM_BACKEND_CLUSTER_NAME")
    or os.environ.get("ALARM_BACKEND_CLUSTER_NAME", "default"),
    "CLUSTER_ROUTING_RULES": os.environ.get("ALARM_BACKEND_CLUSTER_ROUTING_RULES", ""),
    # --hash-ring 1 membership: redis (default) or etcd
    "RING_STORE": os.environ.get("ALARM_ACCESS_RING_STORE", "redis"),
    "ETCD_URL": os.environ.get("ALARM_ACCESS_ETCD_URL", ""),
    "RING_WEIGHT": os.environ.get("ALARM_ACCESS_RING_WEIGHT", "1"),
    # KAFKA_BOOTSTRAP_SERVERS is the usual name; KAFKA_BOOTSTRAP is kept for existing deployments
    "KAFKA_BOOTSTRAP": os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("KAFKA_BOOTSTRAP", ""),
    "KAFKA_GROUP_PREFIX": os.environ.get("KAFKA_GROUP_PREFIX", "alarm-access"),
    "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", ""),
    "METRICS_PORT": os.environ.get("ALARM_ACCESS_METRICS_PORT", "0"),
    "VAR_DIR": str(VAR_DIR),
    "TSDB_URL": os.environ.get("TSDB_URL", ""),
    "NETWORK_TIMEOUT": os.environ.get("ALARM_ACCESS_NETWORK_TIMEOUT", "5"),
    "DRAIN_TIMEOUT": os.environ.get("ALARM_ACCESS_DRAIN_TIMEOUT", "20"),
    # data access: every ALARM_ACCESS_DATA_<NAME> (see alarm_access.kernel.settings.DataSettings)
    "DATA": {key.removeprefix("ALARM_ACCESS_DATA_"): value for key, value in os.environ.items()
             if key.startswith("ALARM_ACCESS_DATA_")},
    # real-time data access: every ALARM_ACCESS_REAL_TIME_<NAME> (see alarm_access.kernel.settings.RealTimeSettings)
    "REAL_TIME": {key.removeprefix("ALARM_ACCESS_REAL_TIME_"): value for key, value in os.environ.items()
                  if key.startswith("ALARM_ACCESS_REAL_TIME_")},
    # alert access: every ALARM_ACCESS_ALERT_<NAME> (see alarm_access.kernel.settings.AlertSettings)
    "ALERT": {key.removeprefix("ALARM_ACCESS_ALERT_"): value for key, value in os.environ.items()
              if key.startswith("ALARM_ACCESS_ALERT_")},
    # incident access: every ALARM_ACCESS_INCIDENT_<NAME> (alarm_access.kernel.settings.IncidentSettings), plus the
    # original's BK_DATA_AIOPS_INCIDENT_BROKER_URL / _SYNC_QUEUE (which win when set)
    "INCIDENT": {
        **{key.removeprefix("ALARM_ACCESS_INCIDENT_"): value for key, value in os.environ.items()
           if key.startswith("ALARM_ACCESS_INCIDENT_")},
        **{name: os.environ[env] for name, env in (("BROKER_URL", "BK_DATA_AIOPS_INCIDENT_BROKER_URL"),
                                                   ("SYNC_QUEUE", "BK_DATA_AIOPS_INCIDENT_SYNC_QUEUE"))
           if os.environ.get(env)},
    },
    # event access: every ALARM_ACCESS_EVENT_<NAME> (alarm_access.kernel.settings.EventSettings), plus the original's
    # DISABLE_EVENT_DATAID list
    "EVENT": {
        **{key.removeprefix("ALARM_ACCESS_EVENT_"): value for key, value in os.environ.items()
           if key.startswith("ALARM_ACCESS_EVENT_")},
        "DISABLE_DATA_IDS": os.environ.get("DISABLE_EVENT_DATAID", ""),
    },
}
