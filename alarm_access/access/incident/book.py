"""`IncidentBook`: every stored incident row, snapshot, operation and alert link as values in memory, changed
by `apply(message)` with the rules of `rules` — what the database store does in one transaction, without one.

The preview runs the messages of a file through a book; the in-memory fake of `IncidentStore` is a book; the
ORM store's tests compare their rows with a book's. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alarm_access.access.incident.message import SyncMessage
from alarm_access.access.incident.rules import (
    IncidentRow,
    OperationRow,
    Outcome,
    Plan,
    SnapshotRow,
    affected,
    decide,
    earliest,
    links_of,
)


@dataclass
class IncidentBook:
    incidents: dict[int, IncidentRow] = field(default_factory=dict)
    snapshots: dict[str, SnapshotRow] = field(default_factory=dict)
    operations: dict[str, OperationRow] = field(default_factory=dict)
    #: incident id -> alert id -> version id
    links: dict[int, dict[int, str]] = field(default_factory=dict)

    def apply(self, message: SyncMessage) -> Plan:
        stored = self.incidents.get(message.incident_id)
        plan = decide(stored, message)
        if plan.outcome in (Outcome.DUPLICATE, Outcome.SKIPPED):
            return plan
        if plan.snapshot is not None:
            self.snapshots.setdefault(plan.snapshot.snapshot_id, plan.snapshot)
        for row in plan.operations:
            old = self.operations.get(row.operation_id)
            self.operations[row.operation_id] = row if old is None else earliest(old, row)
        if plan.incident is not None:
            self.incidents[message.incident_id] = plan.incident
            for incident_id in affected(stored, plan.incident):
                self.relink(incident_id)
        return plan

    def relink(self, incident_id: int) -> None:
        merged_in = [row for row in self.incidents.values() if row.merged_into == incident_id]
        links = links_of(incident_id, self.incidents.get(incident_id), merged_in)
        if links:
            self.links[incident_id] = links
        else:
            self.links.pop(incident_id, None)
