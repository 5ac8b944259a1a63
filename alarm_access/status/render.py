"""The status page as HTML: pure rendering of a `StatusSnapshot` (no I/O, no clock; every text escaped).

`status_page` is the whole document `/status` serves; `status_body` the part the Django admin page embeds.
The search box submits `?q=<strategy id>` to the page itself and the groups table shows only the groups of
matching strategies. The page reloads itself every `refresh` seconds (an inline script, paused while the
search box has the focus so typing is not interrupted; a `<noscript>` meta refresh otherwise).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from html import escape

from alarm_access.status.model import StatusSnapshot

#: groups shown at most (a data service may serve 100k): the search box narrows the rest down
MAX_GROUP_ROWS = 500

_PAGE_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}
"""
#: the styles of the page's parts (the admin page adds them to its own)
STYLE = """
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;
vertical-align:top}th{background:#f0f0f0}tr.failing td{background:#fde2e2}
.badge{display:inline-block;padding:0 .5em;border-radius:.6em;font-weight:600}
.ok{background:#d8f5d8;color:#185c18}.failed{background:#c62828;color:#fff}.other{background:#eee}
.muted{color:#777}.error{font-family:monospace;font-size:12px;max-width:40em;word-break:break-word}
form{margin:.8em 0}input[type=search]{padding:.25em;width:14em}
"""

#: reloads the page every %d ms unless the search box has the focus (the admin page uses it too)
REFRESH_SCRIPT = """<script>
setInterval(function () {
  if (document.activeElement !== document.getElementById("q")) { location.reload(); }
}, %d);
</script>"""


def status_page(snapshot: StatusSnapshot, query: str = "", refresh: int = 5) -> str:
    title = f"alarm-access status: {snapshot.access_type}"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<noscript><meta http-equiv="refresh" content="{int(refresh)}"></noscript>'
            f"<style>{_PAGE_STYLE}{STYLE}</style></head><body>\n{status_body(snapshot, query)}\n"
            f"{REFRESH_SCRIPT % (int(refresh) * 1000)}\n</body></html>\n")


def status_body(snapshot: StatusSnapshot, query: str = "") -> str:
    now = snapshot.generated_at
    ready = (_badge("ready", "ok") if snapshot.ready
             else _badge("not ready", "failed") + " <span class=muted>(the last cycle had a failure)</span>")
    origin = f" from {escape(snapshot.origin)}" if snapshot.origin else ""
    parts = [
        f"<h1>{escape(snapshot.access_type)} access <span class=muted>({escape(snapshot.handler)})</span> {ready}</h1>",
        f"<p class=muted>as of {_when(now, now)}{origin}</p>",
        _groups(snapshot, query),
        _ring(snapshot),
        _section("Kafka partitions", ("access type", "topic", "partition", "lag (messages)"),
                 ((p.access_type, p.topic, str(p.partition), str(p.lag)) for p in snapshot.partitions),
                 "No Kafka partition is assigned to this process."),
        _section("Dead letters (since start)", ("access type", "reason", "messages"),
                 ((d.access_type, d.reason, str(d.count)) for d in snapshot.dead_letters),
                 "No message was dead-lettered."),
    ]
    return "\n".join(parts)


def _groups(snapshot: StatusSnapshot, query: str) -> str:
    now = snapshot.generated_at
    shown = snapshot.matching(query)
    failing = sum(1 for g in snapshot.groups if g.failing)
    summary = f"{len(snapshot.groups)} groups, {failing} failing"
    if query.strip():
        summary += f"; {len(shown)} match strategy id {escape(query.strip())}"
    if len(shown) > MAX_GROUP_ROWS:
        summary += f"; showing the first {MAX_GROUP_ROWS}, search by strategy id for the others"
    form = ('<form method="get" role="search"><label for="q">Strategy id </label>'
            f'<input type="search" id="q" name="q" value="{escape(query)}" placeholder="e.g. 11"> '
            '<button type="submit">Search</button> <a href="?">clear</a></form>')
    head = ("strategy ids", "outcome", "last pull", "next slot", "pushed (last / total)", "last error",
            "source", "interval", "group key")
    rows = []
    for g in shown[:MAX_GROUP_ROWS]:
        css = "failing" if g.failing else ""
        outcome = _badge("FAILING", "failed") if g.failing else _badge(
            g.outcome + (f": {g.detail}" if g.detail and g.outcome != "failed" else ""),
            "ok" if g.outcome == "ok" else "other")
        error = (f'<span class=error>{escape(g.last_error)}</span><br><span class=muted>'
                 f"{_when(g.last_error_at, now)}</span>" if g.last_error else "")
        cells = [escape(", ".join(map(str, g.strategy_ids))), outcome, _when(g.last_pull, now),
                 _when(g.next_slot, now), f"{g.pushed_last} / {g.pushed_total}", error, escape(g.source),
                 f"{g.interval} s", f"<span class=muted>{escape(g.key)}</span>"]
        rows.append(f'<tr class="{css}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    if not shown:
        rows.append(f'<tr><td colspan="{len(head)}" class=muted>No group'
                    f'{" of a matching strategy" if query.strip() else ""}.</td></tr>')
    return (f"<h2>Strategy groups</h2>{form}<p>{summary}</p>"
            f'<table id="groups"><thead>{_head(head)}</thead><tbody>{"".join(rows)}</tbody></table>')


def _ring(snapshot: StatusSnapshot) -> str:
    if snapshot.ring is None:
        return ("<h2>Hash ring</h2><p class=muted>Not in a hash ring (--hash-ring 0): this process serves every "
                "group.</p>")
    rows = ((m.id + (" (this process)" if m.is_self else ""), m.state, f"{m.weight:g}", f"{m.share:.0%}",
             f"{m.lease_age:.0f} s") for m in snapshot.ring)
    return _section("Hash ring", ("member", "state", "weight", "share", "lease age"), rows,
                    "No member is registered.")


def _section(title: str, head: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f"<h2>{escape(title)}</h2><p class=muted>{escape(empty)}</p>"
    return f"<h2>{escape(title)}</h2><table><thead>{_head(head)}</thead><tbody>{body}</tbody></table>"


def _head(names: Sequence[str]) -> str:
    return "<tr>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr>"


def _badge(text: str, kind: str) -> str:
    return f'<span class="badge {kind}">{escape(text)}</span>'


def _when(at: float | None, now: float) -> str:
    """`2026-05-01 12:00:00 UTC (12 s ago)`, `... (in 8 s)`; `never` for None."""
    if at is None:
        return "<span class=muted>never</span>"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
    delta = round(now - at)
    relative = "now" if delta == 0 else f"{delta} s ago" if delta > 0 else f"in {-delta} s"
    return f"{stamp} <span class=muted>({relative})</span>"
