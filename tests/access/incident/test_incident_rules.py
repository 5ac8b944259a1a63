"""The pure core of incident access: parsing, version order, deterministic history, merge, replays."""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import pytest

from alarm_access.access.incident.book import IncidentBook
from alarm_access.access.incident.message import parse_message
from alarm_access.access.incident.rules import Outcome, decide
from alarm_access.kernel.errors import InvalidRecord
from tests.access.incident.messages import T0, body, story, sync


def run(messages: list[dict[str, Any]]) -> tuple[IncidentBook, list[Outcome]]:
    book = IncidentBook()
    outcomes = [book.apply(parse_message(body(m))).outcome for m in messages]
    return book, outcomes


@pytest.mark.parametrize(("raw", "reason"), [
    (b"\xff", "not_utf8"), (b"{oops", "not_json"), (b"[1]", "not_object"),
    (b'{"sync_type": "delete"}', "unknown_sync_type"),
    (b'{"sync_type": "create", "incident_id": 1}', "missing_field"),
    (b'{"sync_type": "update", "sync_time": "x", "incident_id": 1}', "bad_field"),
])
def test_bad_messages_are_invalid_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidRecord) as error:
        parse_message(raw)
    assert error.value.reason == reason


def test_create_needs_rca_time_and_scope_update_does_not() -> None:
    message = sync("create", 1, T0)
    del message["rca_time"]
    with pytest.raises(InvalidRecord, match="rca_time"):
        parse_message(body(message))
    update = sync("update", 1, T0)
    del update["rca_time"], update["scope"]
    assert parse_message(body(update)).rca_time == T0


def test_parse_cleans_control_fields_and_lowers_statuses() -> None:
    message = parse_message(body(sync("update", 1, T0, status="RECOVERING",
                                      attributes={"status": {"from": "ABNORMAL", "to": "RECOVERING"}})))
    assert "send_notice" not in message.info and "notice_config" not in message.info
    assert message.status == "recovering" and message.update_attributes["status"] == ("abnormal", "recovering")
    assert message.version == (T0, T0) and message.send_notice


def test_create_then_update_in_version_order() -> None:
    book, outcomes = run([sync("create", 1, T0), sync("update", 1, T0 + 10, alerts=(1, 2, 3), status="recovering",
                                                      attributes={"status": {"from": "abnormal", "to": "recovering"}})])
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED]
    row = book.incidents[1]
    assert row.status == "recovering" and row.status_order == 1 and row.end_time == T0 + 10
    assert row.document_id == f"{T0}1" and row.alert_count == 3 and row.version == (T0 + 10, T0 + 10)
    assert set(book.links[1]) == {1, 2, 3}
    kinds = sorted(op.operation_type for op in book.operations.values())
    assert kinds == ["alert_trigger", "alert_trigger", "create", "observe", "update"]


def test_older_message_is_stale_and_changes_no_state() -> None:
    newer, older = sync("update", 1, T0 + 10, alerts=(9,)), sync("update", 1, T0 + 5, alerts=(8,))
    book, outcomes = run([sync("create", 1, T0), newer, older])
    assert outcomes[-1] == Outcome.STALE
    assert book.incidents[1].alerts == (9,) and set(book.links[1]) == {9}


def test_redelivery_is_a_duplicate_and_writes_nothing() -> None:
    book = IncidentBook()
    message = parse_message(body(sync("create", 1, T0)))
    book.apply(message)
    plan = decide(book.incidents[1], message)
    assert plan.outcome == Outcome.DUPLICATE and not plan.operations and plan.snapshot is None


def test_update_before_create_creates_and_the_late_create_is_stale() -> None:
    book, outcomes = run([sync("update", 5, T0 + 5, alerts=(5,)), sync("create", 5, T0)])
    assert outcomes == [Outcome.APPLIED, Outcome.STALE]
    creates = [op for op in book.operations.values() if op.operation_type == "create"]
    assert len(creates) == 1 and creates[0].sync_time == T0  # the real create's row wins


def test_merge_moves_links_to_the_target_and_marks_the_source() -> None:
    book, _ = run([sync("create", 1, T0, alerts=(1,)), sync("create", 2, T0, alerts=(2,)),
                   sync("update", 2, T0 + 5, alerts=(2,), status="merged", merge_into=1,
                        attributes={"status": {"from": "abnormal", "to": "merged"}})])
    source = book.incidents[2]
    assert source.status == "merged" and source.merged_into == 1 and source.end_time == T0 + 5
    assert source.extra_info["merge_info"]["target_incident_doc_id"] == f"{T0}1"
    assert 2 not in book.links and set(book.links[1]) == {1, 2}
    assert {(op.incident_id, op.operation_type) for op in book.operations.values()} >= {(2, "merge_to"), (1, "merge")}


def test_stage_exp_create_with_actions_is_skipped() -> None:
    message = sync("create", 1, T0)
    message.update(incident_stage="stage_exp", incident_actions=[{"signal": "incident", "related_alerts": [1]}])
    book, outcomes = run([message])
    assert outcomes == [Outcome.SKIPPED] and not book.incidents


def state(book: IncidentBook) -> str:
    return json.dumps([sorted(map(repr, book.incidents.values())), sorted(map(repr, book.snapshots.values())),
                       sorted(map(repr, book.operations.values())), sorted(book.links.items())])


def test_replay_and_any_order_end_in_the_same_state() -> None:
    messages = story()
    clean, _ = run(messages)
    replayed, outcomes = run(messages + messages)
    assert state(replayed) == state(clean)
    # the newest message of each incident is a duplicate, older ones are stale; nothing applies again
    assert set(outcomes[len(messages):]) == {Outcome.DUPLICATE, Outcome.STALE}
    rng = random.Random(7)
    for _ in range(50):
        shuffled = messages[:]
        rng.shuffle(shuffled)
        assert state(run(shuffled)[0]) == state(clean), shuffled
    for prefix in itertools.permutations(messages[:4]):
        assert state(run([*prefix, *messages[4:]])[0]) == state(clean)


def test_story_state() -> None:
    book, _ = run(story())
    assert sorted(book.incidents) == [100, 200, 300]
    assert book.incidents[100].status == "recovered" and set(book.links[100]) == {1, 2, 3, 4, 7}
    assert book.incidents[200].status == "recovering" and set(book.links[200]) == {5}
    assert book.incidents[300].merged_into == 100 and 300 not in book.links
