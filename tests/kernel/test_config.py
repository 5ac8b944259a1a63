"""`AccessConfig.build` and the typed section parser: every value parses by its field type, a bad value is a
`ConfigError` naming its environment variable, and nothing is silently dropped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from alarm_access.kernel.config import AccessConfig, AccessType
from alarm_access.kernel.errors import ConfigError
from alarm_access.kernel.sections import parse_section
from alarm_access.kernel.settings import DataSettings, EventSettings

OPTIONS = {"access_type": "event"}


def build(**raw: Any) -> AccessConfig:
    return AccessConfig.build(raw, OPTIONS)


@dataclass(frozen=True, slots=True)
class Sample:
    flag: bool = False
    count: int = 1
    ratio: float = 0.5
    name: str = "x"
    ids: tuple[int, ...] = ()
    pairs: tuple[tuple[int, str], ...] = ()


def test_every_field_type_parses_from_text() -> None:
    parsed = parse_section(Sample, {"FLAG": "yes", "COUNT": "7", "RATIO": "0.25", "NAME": " y ",
                                    "IDS": "1, 2,,3", "PAIRS": "1000:gse-base,1100000:a:b"}, "P_")
    assert parsed == Sample(flag=True, count=7, ratio=0.25, name="y", ids=(1, 2, 3),
                            pairs=((1000, "gse-base"), (1100000, "a:b")))


def test_empty_values_keep_the_default() -> None:
    assert parse_section(Sample, {"COUNT": "", "IDS": "  "}, "P_") == Sample()


@pytest.mark.parametrize(("key", "text"), [
    ("FLAG", "maybe"), ("COUNT", "ten"), ("COUNT", "-1"), ("RATIO", "nan"), ("RATIO", "inf"),
    ("IDS", "1,x"), ("PAIRS", "1000"), ("PAIRS", "x:topic"), ("PAIRS", "1000:"),
])
def test_a_bad_value_names_its_variable(key: str, text: str) -> None:
    with pytest.raises(ConfigError, match=rf"^P_{key}: invalid value"):
        parse_section(Sample, {key: text}, "P_")


def test_unknown_names_are_refused_not_ignored() -> None:
    with pytest.raises(ConfigError, match=r"unknown setting.*P_COUNTT"):
        parse_section(Sample, {"COUNTT": "1"}, "P_")


def test_sections_parse_with_their_prefix_and_aliases() -> None:
    config = build(DATA={"TIME_DELAY": "30", "QOS_SOURCES": "bk_monitor:time_series"},
                   EVENT={"BATCH_SIZE": "50", "DISABLE_DATA_IDS": "1000", "TOPICS": "1000:t"})
    assert config.data.time_delay == 30
    assert config.data.qos_source_labels == {("bk_monitor", "time_series")}
    assert config.event.batch_size == 50 and config.event.topics == ((1000, "t"),)
    assert config.event.active_data_ids == (1100000, 1100008)


@pytest.mark.parametrize(("raw", "message"), [
    ({"DATA": {"TIME_DELAY": "soon"}}, "ALARM_ACCESS_DATA_TIME_DELAY: invalid value 'soon'"),
    ({"EVENT": {"BATCH_SIZ": "5"}}, "unknown setting(s) ALARM_ACCESS_EVENT_BATCH_SIZ"),
    ({"DATA": {"QOS_SOURCES": "bk_monitor"}}, "ALARM_ACCESS_DATA_QOS_SOURCES: 'bk_monitor' is not"),
    ({"DATA": {"SOURCE_URLS": "bk_monitor:time_series=ftp://x"}}, "ALARM_ACCESS_DATA_SOURCE_URLS"),
    ({"DATA": {"LOCK_TTL": "0"}}, "ALARM_ACCESS_DATA_LOCK_TTL"),
    ({"EVENT": {"OFFSET_RESET": "newest"}}, "ALARM_ACCESS_EVENT_OFFSET_RESET must be earliest or latest"),
    ({"REAL_TIME": {"FETCH_WAIT_MAX_MS": "0"}}, "ALARM_ACCESS_REAL_TIME_FETCH_WAIT_MAX_MS must be at least 1"),
    ({"EVENT": {"MAX_INVALID_RATIO": "0"}}, "ALARM_ACCESS_EVENT_MAX_INVALID_RATIO must be in (0, 1]"),
    ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must start with"),
    ({"METRICS_PORT": "70000"}, "must be a port"),
    ({"KAFKA_GROUP_PREFIX": " "}, "KAFKA_GROUP_PREFIX must not be empty"),
    ({"NETWORK_TIMEOUT": "nan"}, "ALARM_ACCESS_NETWORK_TIMEOUT must be a finite number"),
    ({"DRAIN_TIMEOUT": "inf"}, "ALARM_ACCESS_DRAIN_TIMEOUT must be a finite number"),
    ({"RING_WEIGHT": "0"}, "ALARM_ACCESS_RING_WEIGHT must be a finite number >= 0.01"),
])
def test_bad_configuration_is_one_config_error(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build(**raw)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_sections_built_in_code_are_validated_the_same_way() -> None:
    with pytest.raises(ConfigError, match="OFFSET_RESET"):
        EventSettings(offset_reset="newest")
    with pytest.raises(ConfigError, match="QOS_SOURCES"):
        DataSettings(qos_sources=("nocolon",))


def test_one_consumer_group_prefix() -> None:
    config = build(KAFKA_GROUP_PREFIX="team-a")
    assert config.kafka_group_prefix == "team-a" and config.access_type is AccessType.EVENT
    with pytest.raises(ConfigError, match="unknown setting"):
        build(EVENT={"GROUP_PREFIX": "team-b"})  # the old second name is gone, not silently ignored


def test_a_non_default_cluster_prefixes_its_keys_and_its_rules_are_validated() -> None:
    rules = '[{"cluster_name": "big", "target_type": "biz", "matcher_type": "true"}]'
    config = build(CLUSTER_NAME="Big", CLUSTER_ROUTING_RULES=rules, KEY_PREFIX="bkmonitorv3.ee")
    assert config.cluster.name == "big" and config.key_prefix == "bkmonitorv3.ee.big"
    assert config.cluster.serves(5) and build().key_prefix == "bkmonitorv3.ee"
    with pytest.raises(ConfigError, match="ALARM_BACKEND_CLUSTER_ROUTING_RULES is not JSON"):
        build(CLUSTER_ROUTING_RULES="[{")
    with pytest.raises(ConfigError, match="--session-ttl must be a finite number >= 1"):
        AccessConfig.build({}, {**OPTIONS, "session_ttl": 0.2})


def test_a_ring_weight_is_read() -> None:
    assert build(RING_WEIGHT="2.5").ring_weight == 2.5 and build().ring_weight == 1.0
