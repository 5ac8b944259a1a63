"""`alarm_access.logs`: every record is one line, in logfmt or JSON, and parses back to exactly its fields."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alarm_access.logs import ctx, formatter, log_format

ROOT = Path(__file__).resolve().parents[1]
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
FIELDS: dict[str, Any] = {
    "sgk": "group a b",
    "quote": 'say "hi" to \'them\'',
    "eq": "a=b c==d",
    "newline": "line one\nline two",
    "bare_newline": "x\ny",
    "crlf": "x\r\ny",
    "tab": "a\tb",
    "zh": "策略 磁盘使用率告警, 超过 90%",
    "zh_bare": "中文",
    "backslash": "C:\\new\\table",
    "literal_escape": "x\\ny",
    "separators": "a\u2028b\u2029c\x85d\x0be\x1bf",
    "empty": "",
    "strategy_id": 42,
}

_PAIR = re.compile(r'([^\s="]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?: |$)')


def parse_logfmt(line: str) -> dict[str, Any]:
    """`key=value key="quoted value"` -> dict; a quoted value is a JSON string literal. The whole line must parse."""
    fields: dict[str, Any] = {}
    position = 0
    while position < len(line):
        match = _PAIR.match(line, position)
        assert match, f"not logfmt at {position}: {line[position:]!r}"
        key, raw = match.groups()
        assert key not in fields, f"duplicate key {key!r}"
        fields[key] = json.loads(raw) if raw.startswith('"') else raw
        position = match.end()
    return fields


PARSERS: dict[str, Callable[[str], dict[str, Any]]] = {"logfmt": parse_logfmt, "json": json.loads}


class Lines(logging.Handler):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.setFormatter(formatter(kind))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(params=["logfmt", "json"])
def logged(request: pytest.FixtureRequest) -> Iterator[tuple[str, Lines, logging.Logger]]:
    handler = Lines(request.param)
    logger = logging.getLogger(f"tests.logs.{request.param}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield request.param, handler, logger
    logger.removeHandler(handler)


def expected(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """What parsing gives back: logfmt has only strings, JSON keeps the types."""
    return dict(fields) if kind == "json" else {key: str(value) for key, value in fields.items()}


def test_context_fields_parse_back_exactly(logged: tuple[str, Lines, logging.Logger]) -> None:
    kind, handler, logger = logged
    logger.warning("group %s pulled, %d points\nsecond \"line\" of msg=x", "g 1", 7, extra=ctx(**FIELDS))
    (line,) = handler.lines
    assert line.splitlines() == [line] and "\n" not in line and "\r" not in line
    parsed = PARSERS[kind](line)
    assert list(parsed)[:4] == ["ts", "level", "logger", "msg"]
    assert STAMP.fullmatch(parsed.pop("ts"))
    assert parsed == {"level": "WARNING", "logger": logger.name,
                      "msg": 'group g 1 pulled, 7 points\nsecond "line" of msg=x', **expected(kind, FIELDS)}


def test_exception_goes_into_its_own_field_on_the_same_line(logged: tuple[str, Lines, logging.Logger]) -> None:
    kind, handler, logger = logged
    try:
        raise ValueError('bad "value"\nwith a second line')
    except ValueError:
        logger.exception("cycle failed", extra=ctx(service="data access", zh="失败"))
    logger.info("after", extra=ctx(sgk="s"))
    first, second = handler.lines
    for line in handler.lines:
        assert line.splitlines() == [line]
    parsed = PARSERS[kind](first)
    assert parsed["msg"] == "cycle failed" and parsed["level"] == "ERROR"
    assert (parsed["service"], parsed["zh"]) == ("data access", "失败")
    assert "ValueError" in parsed["exception"] and "Traceback" in parsed["exception"]
    assert 'bad "value"\nwith a second line' in parsed["exception"]
    assert "ValueError" not in parsed["msg"] and "Traceback" not in parsed["msg"]
    assert PARSERS[kind](second)["msg"] == "after" and "exception" not in PARSERS[kind](second)


def test_a_context_key_never_replaces_a_base_field(logged: tuple[str, Lines, logging.Logger]) -> None:
    kind, handler, logger = logged
    logger.info("real", extra=ctx(msg="fake", level="fake", exc_info="x", exception="y", sgk="s"))
    parsed = PARSERS[kind](handler.lines[0])
    assert (parsed["msg"], parsed["level"], parsed["sgk"]) == ("real", "INFO", "s")
    assert (parsed["ctx_msg"], parsed["ctx_level"], parsed["ctx_exc_info"], parsed["ctx_exception"]) == (
        "fake", "fake", "x", "y")
    assert "exception" not in parsed and "exc_info" not in parsed


def test_log_format_names() -> None:
    assert [log_format(None), log_format(""), log_format("logfmt"), log_format(" JSON ")] == [
        "logfmt", "logfmt", "logfmt", "json"]
    with pytest.raises(ValueError, match=r"ALARM_ACCESS_LOG_FORMAT must be logfmt or json, got 'bogus'"):
        log_format("bogus")
    with pytest.raises(ValueError, match="ALARM_ACCESS_LOG_FORMAT"):
        formatter("xml")


def manage(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, text=True, capture_output=True,
                          timeout=60, check=False, env=os.environ | environment)


def test_unknown_format_is_one_line_and_exit_2() -> None:
    done = manage("run_access", "--help", ALARM_ACCESS_LOG_FORMAT="bogus")
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "ALARM_ACCESS_LOG_FORMAT" in lines[0] and "bogus" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("kind", ["logfmt", "json"])
def test_settings_configure_the_chosen_format(kind: str) -> None:
    code = ("import logging; from alarm_access.logs import ctx; "
            "logging.getLogger('alarm_access.probe').warning('probe line', extra=ctx(sgk='a b', zh='中文'))")
    done = manage("shell", "-c", code, ALARM_ACCESS_LOG_FORMAT=kind, LOG_LEVEL="INFO")
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "alarm_access.probe" in line]
    parsed = PARSERS[kind](line)
    assert (parsed["logger"], parsed["msg"], parsed["sgk"], parsed["zh"]) == (
        "alarm_access.probe", "probe line", "a b", "中文")
