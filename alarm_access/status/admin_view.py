"""The Django admin's "Access status" page (`/admin/access-status/`): the status pages of running services.

The web process runs no access service, so it shows what the services say about themselves: for each base
URL in `settings.ALARM_ACCESS_STATUS_URLS` (env `ALARM_ACCESS_STATUS_URLS`, comma-separated, e.g.
`http://access-data-0:9100,http://access-event-0:9100` — the `--metrics-port` servers of `run_access`) it
fetches `/status.json` (timeout `STATUS_FETCH_TIMEOUT` seconds each) and renders it with the same renderer
as `/status`, in the admin's layout, staff only. A service that does not answer is named with its error;
the others are still shown. The search box (`?q=`) filters the groups of every service alike; the page
reloads itself like `/status`. Nothing is stored: the page is exactly as current as the services' answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.safestring import SafeString, mark_safe

from alarm_access.status.model import snapshot_from_dict
from alarm_access.status.render import REFRESH_SCRIPT, STYLE, status_body

STATUS_FETCH_TIMEOUT = 3.0
REFRESH_SECONDS = 10


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    url: str
    #: the rendered status (escaped by `status_body`), or None when the service did not answer
    html: SafeString | None
    error: str = ""


def status_urls() -> list[str]:
    """The configured base URLs, without a trailing slash."""
    raw: Any = getattr(settings, "ALARM_ACCESS_STATUS_URLS", ())
    entries = raw.split(",") if isinstance(raw, str) else list(raw)
    return [str(url).strip().rstrip("/") for url in entries if str(url).strip()]


def fetch_status(client: httpx.Client, url: str, query: str) -> ServiceStatus:
    """One service's status, rendered; an unreachable service or a document of another shape is an error row."""
    try:
        reply = client.get(f"{url}/status.json")
        reply.raise_for_status()
        snapshot = snapshot_from_dict({**reply.json(), "origin": url})
    except httpx.HTTPError as exc:
        return ServiceStatus(url, None, f"{type(exc).__name__}: {exc}")
    except (ValueError, KeyError, TypeError) as exc:
        return ServiceStatus(url, None, f"not a status document: {type(exc).__name__}: {exc}")
    return ServiceStatus(url, mark_safe(status_body(snapshot, query)))  # status_body escapes every text


def access_status(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    urls = status_urls()
    with httpx.Client(timeout=STATUS_FETCH_TIMEOUT) as client:
        services = [fetch_status(client, url, query) for url in urls]
    context = {
        **admin.site.each_context(request),
        "title": "Access status",
        "services": services,
        "style": mark_safe(STYLE),  # constants of the renderer
        "refresh": mark_safe(REFRESH_SCRIPT % (REFRESH_SECONDS * 1000)),
    }
    return TemplateResponse(request, "alarm_access/access_status.html", context)
