"""Kafka security: the librdkafka keys of each protocol, env defaults < per-cluster env < `KafkaTopic` row,
one-line validation errors naming cluster and field, and no password in any repr or log line — including
librdkafka's own, from a real consumer and producer pointed at a closed port."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from alarm_access import models as db
from alarm_access.adapters.kafka.consumer import KafkaStream
from alarm_access.adapters.kafka.dlq import KafkaDeadLetters
from alarm_access.adapters.kafka.security import (
    PLAINTEXT,
    KafkaSecurity,
    SaslMechanism,
    SecurityProtocol,
    env_prefix,
    security_for,
)
from alarm_access.adapters.orm.topics import TopicRoute, cluster_security, event_topic_routes
from alarm_access.kernel.errors import ConfigError
from alarm_access.logs import formatter
from alarm_access.models.sources import KAFKA_SASL_MECHANISMS, KAFKA_SECURITY_PROTOCOLS

PASSWORD = "pw-Zq81-never-logged"
KEY_PASSWORD = "keypw-Xy42-never-logged"
UNREACHABLE = "127.0.0.1:1"


def sasl_ssl(**overrides: Any) -> KafkaSecurity:
    fields: dict[str, Any] = {
        "security_protocol": SecurityProtocol.SASL_SSL, "sasl_mechanism": SaslMechanism.SCRAM_SHA_512,
        "username": "alarm", "password": PASSWORD, "ssl_ca_location": "/etc/kafka/ca.pem",
        "ssl_certificate_location": "/etc/kafka/client.pem", "ssl_key_location": "/etc/kafka/client.key",
        "ssl_key_password": KEY_PASSWORD, "cluster": "main", "bootstrap": "k1:9093",
    }
    return KafkaSecurity(**{**fields, **overrides})


# --- the librdkafka config ------------------------------------------------------------------------------------
def test_sasl_ssl_cluster_gives_exactly_these_librdkafka_keys() -> None:
    assert sasl_ssl().librdkafka_config() == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "alarm",
        "sasl.password": PASSWORD,
        "ssl.ca.location": "/etc/kafka/ca.pem",
        "ssl.certificate.location": "/etc/kafka/client.pem",
        "ssl.key.location": "/etc/kafka/client.key",
        "ssl.key.password": KEY_PASSWORD,
    }


def test_each_protocol_sends_only_the_keys_it_uses() -> None:
    assert PLAINTEXT.librdkafka_config() == {"security.protocol": "PLAINTEXT"}
    assert sasl_ssl(security_protocol="SASL_PLAINTEXT").librdkafka_config() == {
        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "alarm",
        "sasl.password": PASSWORD}
    assert KafkaSecurity(security_protocol=SecurityProtocol.SSL, ssl_ca_location="/ca.pem", username="ignored",
                         password="ignored").librdkafka_config() == {
        "security.protocol": "SSL", "ssl.ca.location": "/ca.pem"}


def test_sasl_mechanism_defaults_to_plain_and_names_are_case_insensitive() -> None:
    security = security_for("c", "b:1", {"KAFKA_SECURITY_PROTOCOL": " sasl_plaintext ", "KAFKA_SASL_USERNAME": "u",
                                         "KAFKA_SASL_PASSWORD": "p"})
    assert security.security_protocol is SecurityProtocol.SASL_PLAINTEXT
    assert security.sasl_mechanism is SaslMechanism.PLAIN
    assert security_for("c", "b:1", {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "scram-sha-256",
                                     "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}
                        ).librdkafka_config()["sasl.mechanisms"] == "SCRAM-SHA-256"


def test_model_choices_are_the_values_the_resolver_accepts() -> None:
    assert tuple(p.value for p in SecurityProtocol) == KAFKA_SECURITY_PROTOCOLS
    assert tuple(m.value for m in SaslMechanism) == KAFKA_SASL_MECHANISMS


# --- precedence: KAFKA_* < KAFKA_<CLUSTER>_* < KafkaTopic row -------------------------------------------------
DEFAULTS = {
    "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "KAFKA_SASL_MECHANISM": "PLAIN",
    "KAFKA_SASL_USERNAME": "everyone",
    "KAFKA_SASL_PASSWORD": "default-pw",
    "KAFKA_SSL_CA_LOCATION": "/default/ca.pem",
    "KAFKA_SSL_KEY_PASSWORD": "default-key-pw",
}


def test_without_any_setting_a_cluster_is_plaintext() -> None:
    assert security_for("main", "k1:9092", {}) == PLAINTEXT
    assert security_for("main", "k1:9092", {}, {"security_protocol": None, "sasl_password": ""}) == PLAINTEXT


def test_env_defaults_apply_to_every_cluster() -> None:
    for name in ("main", "other", ""):
        security = security_for(name, "k:9092", DEFAULTS)
        assert (security.security_protocol, security.username, security.password) == (
            SecurityProtocol.SASL_PLAINTEXT, "everyone", "default-pw")


def test_per_cluster_env_overrides_the_defaults_field_by_field() -> None:
    env = {**DEFAULTS, "KAFKA_KAFKA_MAIN_SZ_SECURITY_PROTOCOL": "SASL_SSL",
           "KAFKA_KAFKA_MAIN_SZ_SASL_PASSWORD": "main-pw", "KAFKA_OTHER_SASL_USERNAME": "not-for-main"}
    security = security_for("kafka-main.sz", "k1:9093", env)
    assert env_prefix("kafka-main.sz") == "KAFKA_KAFKA_MAIN_SZ_"
    assert security.librdkafka_config() == {
        "security.protocol": "SASL_SSL", "sasl.mechanisms": "PLAIN", "sasl.username": "everyone",
        "sasl.password": "main-pw", "ssl.ca.location": "/default/ca.pem", "ssl.key.password": "default-key-pw"}
    # no cluster name (the KAFKA_BOOTSTRAP cluster): the defaults only
    assert security_for("", "k1:9093", env).password == "default-pw"


def test_model_values_win_over_both_environments() -> None:
    env = {**DEFAULTS, "KAFKA_MAIN_SASL_USERNAME": "env-main", "KAFKA_MAIN_SASL_PASSWORD": "env-main-pw"}
    model = {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256", "sasl_username": "row-user",
             "sasl_password": "", "ssl_ca_location": "/row/ca.pem", "ssl_certificate_location": None,
             "ssl_key_location": None}
    security = security_for("main", "k1:9093", env, model)
    assert security.librdkafka_config() == {
        "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-256", "sasl.username": "row-user",
        # an empty model field falls through to the per-cluster env
        "sasl.password": "env-main-pw", "ssl.ca.location": "/row/ca.pem", "ssl.key.password": "default-key-pw"}


def test_a_cluster_overridden_to_plaintext_ignores_the_sasl_defaults() -> None:
    env = {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u", "KAFKA_SSL_CERTIFICATE_LOCATION": "/c",
           "KAFKA_LEGACY_SECURITY_PROTOCOL": "PLAINTEXT"}
    assert security_for("legacy", "old:9092", env).librdkafka_config() == {"security.protocol": "PLAINTEXT"}


def test_passwords_are_taken_verbatim_paths_stripped() -> None:
    security = security_for("c", "b:1", {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u",
                                         "KAFKA_SASL_PASSWORD": " p w ", "KAFKA_SSL_CA_LOCATION": " /ca.pem\n"})
    assert (security.password, security.ssl_ca_location) == (" p w ", "/ca.pem")


# --- validation: one line, naming the cluster and the field ---------------------------------------------------
SASL_ENV = {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": PASSWORD}


@pytest.mark.parametrize(("env", "field", "problem"), [
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "security_protocol",
     "must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL, got 'TLS'"),
    ({**SASL_ENV, "KAFKA_MAIN_SASL_MECHANISM": "GSSAPI"}, "sasl_mechanism", "got 'GSSAPI'"),
    ({**SASL_ENV, "KAFKA_SASL_USERNAME": ""}, "sasl_username", "is required with security_protocol SASL_SSL"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_USERNAME": "u"}, "sasl_password", "is required"),
    ({**SASL_ENV, "KAFKA_SSL_CERTIFICATE_LOCATION": "/c.pem"}, "ssl_key_location", "with ssl_certificate_location"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_MAIN_SSL_KEY_LOCATION": "/k.pem"}, "ssl_certificate_location",
     "is required with ssl_key_location"),
])
def test_invalid_settings_raise_one_line_naming_cluster_and_field(env: dict[str, str], field: str,
                                                                   problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        security_for("main", "k1:9093", env)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("kafka cluster 'main' (k1:9093): ")
    assert f" {field} " in message and problem in message
    assert f"KAFKA_MAIN_{field.upper()}" in message and f"KAFKA_{field.upper()}" in message
    assert PASSWORD not in message


def test_the_model_is_named_for_a_bad_row_value() -> None:
    with pytest.raises(ConfigError, match=r"^kafka cluster 'main' \(k1:9093\): security_protocol must be one of "
                                          r".*got 'SASL'.*KafkaTopic\.security_protocol"):
        security_for("main", "k1:9093", {}, {"security_protocol": "SASL"})


# --- redaction ---------------------------------------------------------------------------------------------------
def test_repr_str_and_redacted_never_show_the_passwords() -> None:
    security = sasl_ssl()
    route = TopicRoute(1000, "k1:9093", "events", security)
    for text in (repr(security), str(security), f"{security}", repr(route), str(route), f"{[route]}",
                 str(security.redacted())):
        assert PASSWORD not in text and KEY_PASSWORD not in text
        assert "***" in text
    assert security.redacted() == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "username": "alarm", "password": "***",
        "ssl_ca_location": "/etc/kafka/ca.pem", "ssl_certificate_location": "/etc/kafka/client.pem",
        "ssl_key_location": "/etc/kafka/client.key", "ssl_key_password": "***"}
    assert repr(PLAINTEXT) == "KafkaSecurity(security_protocol='PLAINTEXT')"
    assert security.scrub(f"auth as alarm:{PASSWORD} failed") == "auth as alarm:*** failed"


def test_cluster_and_bootstrap_only_label_the_value() -> None:
    assert sasl_ssl() == sasl_ssl(cluster="other", bootstrap="k2:9093")
    assert sasl_ssl() != sasl_ssl(password="changed")


# --- routes from KafkaTopic rows ------------------------------------------------------------------------------
def _row(data_id: int, **fields: Any) -> db.KafkaTopic:
    values: dict[str, Any] = {"cluster_name": "main", "bootstrap_servers": "k1:9093", "topic": f"t{data_id}", **fields}
    return db.KafkaTopic.objects.create(data_id=data_id, **values)


@pytest.mark.django_db(transaction=True)  # the lookups call close_old_connections()
def test_routes_carry_the_security_of_their_row_over_the_environment() -> None:
    _row(1000, security_protocol="SASL_SSL", sasl_username="row-user", sasl_password=PASSWORD)
    _row(1100000, security_protocol="SASL_SSL", sasl_username="row-user", sasl_password=PASSWORD)
    _row(1100008, cluster_name="legacy", bootstrap_servers="old:9092")
    env = {"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SSL_CA_LOCATION": "/ca.pem",
           "KAFKA_LEGACY_SECURITY_PROTOCOL": "SSL"}

    routes = {r.data_id: r for r in event_topic_routes([1000, 1100000, 1100008], "", (), env)}

    assert routes[1000].security.librdkafka_config() == {
        "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "row-user",
        "sasl.password": PASSWORD, "ssl.ca.location": "/ca.pem"}
    assert routes[1000].security == routes[1100000].security
    assert routes[1100008].security.librdkafka_config() == {"security.protocol": "SSL", "ssl.ca.location": "/ca.pem"}
    assert PASSWORD not in repr(list(routes.values()))
    assert cluster_security("k1:9093", env) == routes[1000].security
    # a bootstrap without a row (KAFKA_BOOTSTRAP): the KAFKA_* defaults only
    assert cluster_security("elsewhere:9092", {"KAFKA_SECURITY_PROTOCOL": "SSL"}).security_protocol == "SSL"


@pytest.mark.django_db(transaction=True)  # the lookups call close_old_connections()
def test_fallback_routes_use_the_env_defaults() -> None:
    routes = event_topic_routes([1000], "k9:9092", [(1000, "events")], {"KAFKA_SECURITY_PROTOCOL": "SSL",
                                                                          "KAFKA_SSL_CA_LOCATION": "/ca.pem"})
    assert [(r.bootstrap, r.security.librdkafka_config()) for r in routes] == [
        ("k9:9092", {"security.protocol": "SSL", "ssl.ca.location": "/ca.pem"})]


@pytest.mark.django_db(transaction=True)  # the lookups call close_old_connections()
def test_rows_of_one_bootstrap_that_disagree_or_are_invalid_are_refused() -> None:
    _row(1000, security_protocol="SASL_SSL", sasl_username="u", sasl_password=PASSWORD)
    _row(1100000, security_protocol="SSL")
    with pytest.raises(ConfigError, match=r"^kafka cluster 'main' \(k1:9093\): KafkaTopic rows of data ids 1000 and "
                                          r"1100000 disagree on the security settings of bootstrap k1:9093$"):
        event_topic_routes([1000, 1100000], "", (), {})
    _row(1100008, cluster_name="bad", bootstrap_servers="k3:9093", security_protocol="SASL_SSL")
    with pytest.raises(ConfigError, match=r"^kafka cluster 'bad' \(k3:9093\): sasl_username is required"):
        event_topic_routes([1100008], "", (), {})


# --- real clients: no secret in any log line -------------------------------------------------------------------
def _secrets_in(records: list[logging.LogRecord]) -> list[str]:
    render = formatter("json")
    leaks = []
    for record in records:
        texts = (record.getMessage(), repr(record.args), repr(getattr(record, "ctx", None)), render.format(record))
        if any(secret in text for text in texts for secret in (PASSWORD, KEY_PASSWORD)):
            leaks.append(f"{record.name}: {record.getMessage()}")
    return leaks


@pytest.mark.parametrize("librdkafka_debug", [False, True], ids=["production-options", "librdkafka-debug"])
def test_a_real_sasl_ssl_consumer_logs_no_password(caplog: pytest.LogCaptureFixture, librdkafka_debug: bool) -> None:
    caplog.set_level(logging.DEBUG, logger="alarm_access")
    caplog.set_level(logging.DEBUG, logger="alarm_access.kafka.librdkafka")
    # no ssl.ca.location: librdkafka falls back to the system CA store, so SASL_SSL starts without a CA file
    security = security_for("main", UNREACHABLE, {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "alarm", "KAFKA_SASL_PASSWORD": PASSWORD, "KAFKA_SSL_KEY_PASSWORD": KEY_PASSWORD})
    # debug: librdkafka dumps its whole client config (and every security step) through our logger
    options: dict[str, Any] = {"debug": "conf,security,broker", "log_level": 7} if librdkafka_debug else {}
    stream = KafkaStream(bootstrap=UNREACHABLE, group_id="security-test", topics={"events": 1000}, timeout=1.0,
                         access_type="event",
                         options=options, commit_every_messages=1, commit_every_seconds=1.0, join_timeout=0.0,
                         security=security)
    try:
        assert stream.poll(10, timeout=0.5) == []
    finally:
        stream.close()

    records = caplog.records
    assert any(r.getMessage() == "kafka consumer subscribed" for r in records)
    if librdkafka_debug:
        librdkafka = [r.getMessage() for r in records if r.name == "alarm_access.kafka.librdkafka"]
        # the config did reach the client, and librdkafka printed it redacted
        assert any("sasl.password = [redacted]" in line for line in librdkafka), librdkafka[:20]
        assert any("ssl.key.password = [redacted]" in line for line in librdkafka)
    assert _secrets_in(records) == []


def test_a_real_sasl_ssl_dead_letter_producer_prints_no_password(capfd: pytest.CaptureFixture[str],
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="alarm_access")
    security = sasl_ssl(ssl_ca_location=None, ssl_certificate_location=None, ssl_key_location=None,
                        bootstrap=UNREACHABLE)
    producer = KafkaDeadLetters(UNREACHABLE, "dlq", timeout=0.5, security=security)
    producer.close()
    out, err = capfd.readouterr()
    assert PASSWORD not in out + err and KEY_PASSWORD not in out + err
    assert _secrets_in(caplog.records) == []


@pytest.mark.parametrize("client", ["consumer", "producer"])
def test_a_config_the_client_refuses_is_a_config_error_naming_the_cluster(client: str) -> None:
    security = sasl_ssl(ssl_ca_location="/nonexistent/ca.pem", ssl_certificate_location=None, ssl_key_location=None,
                        bootstrap=UNREACHABLE)
    with pytest.raises(ConfigError) as raised:
        if client == "consumer":
            KafkaStream(bootstrap=UNREACHABLE, group_id="g", topics={"t": 1}, timeout=1.0, options={},
                        access_type="event", commit_every_messages=1, commit_every_seconds=1.0, join_timeout=1.0,
                        security=security)
        else:
            KafkaDeadLetters(UNREACHABLE, "dlq", timeout=0.5, security=security)
    message = str(raised.value)
    assert message.startswith(f"kafka cluster 'main' ({UNREACHABLE}): ") and "ssl.ca.location" in message
    assert PASSWORD not in message and KEY_PASSWORD not in message
    assert raised.value.__cause__ is None


# --- the admin ---------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_admin_never_sends_the_password_back_and_keeps_it_when_left_empty(admin_client: Any) -> None:
    row = _row(1000, security_protocol="SASL_SSL", sasl_username="u", sasl_password=PASSWORD)
    change = f"/admin/alarm_access/kafkatopic/{row.pk}/change/"
    page = admin_client.get(change).content.decode()
    assert 'type="password" name="sasl_password"' in page and PASSWORD not in page
    assert PASSWORD not in admin_client.get("/admin/alarm_access/kafkatopic/").content.decode()

    form = {"data_id": "1000", "cluster_name": "main", "bootstrap_servers": "k1:9093", "topic": "t1000",
            "group_suffix": "", "security_protocol": "SASL_SSL", "sasl_mechanism": "", "sasl_username": "u2",
            "sasl_password": "", "ssl_ca_location": "", "ssl_certificate_location": "", "ssl_key_location": ""}
    assert admin_client.post(change, form).status_code == 302
    row.refresh_from_db()
    assert (row.sasl_username, row.sasl_password) == ("u2", PASSWORD)
    assert admin_client.post(change, {**form, "sasl_password": "replaced"}).status_code == 302
    row.refresh_from_db()
    assert row.sasl_password == "replaced"

    admin_client.post("/admin/alarm_access/kafkatopic/", {"action": "clear_sasl_password",
                                                          "_selected_action": [str(row.pk)]})
    row.refresh_from_db()
    assert row.sasl_password is None
