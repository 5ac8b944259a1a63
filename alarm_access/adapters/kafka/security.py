"""How a Kafka client authenticates and encrypts: `KafkaSecurity`, and `security_for` which resolves it per cluster.

`KafkaSecurity` is a frozen value: protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), SASL mechanism (PLAIN,
SCRAM-SHA-256, SCRAM-SHA-512; PLAIN when a SASL protocol names none), SASL username/password and the TLS files.
It is checked when built: an unknown protocol or mechanism, a SASL protocol without username or password, a
client certificate without its key (or a key without its certificate) raise `ConfigError` with one line naming
the cluster and the field. Settings the protocol does not use are ignored (a cluster overridden to PLAINTEXT
keeps working under global SASL defaults). `librdkafka_config()` gives the librdkafka keys to merge into a
client's config; `repr()`, `str()` and `redacted()` show `***` instead of the password and the key password.

Resolution, field by field, first non-empty value wins:

1. the data-source model: the `KafkaTopic` row of the cluster (`security_protocol`, `sasl_mechanism`,
   `sasl_username`, `sasl_password`, `ssl_ca_location`, `ssl_certificate_location`, `ssl_key_location`);
2. the per-cluster environment: `KAFKA_<CLUSTER>_SECURITY_PROTOCOL`, `KAFKA_<CLUSTER>_SASL_PASSWORD`, ... with
   `<CLUSTER>` the row's `cluster_name` upper-cased, every non-alphanumeric character replaced by `_`
   (`kafka-main.sz` → `KAFKA_KAFKA_MAIN_SZ_SECURITY_PROTOCOL`);
3. the default of every cluster: `KAFKA_SECURITY_PROTOCOL`, `KAFKA_SASL_MECHANISM`, `KAFKA_SASL_USERNAME`,
   `KAFKA_SASL_PASSWORD`, `KAFKA_SSL_CA_LOCATION`, `KAFKA_SSL_CERTIFICATE_LOCATION`, `KAFKA_SSL_KEY_LOCATION`,
   `KAFKA_SSL_KEY_PASSWORD`;
4. PLAINTEXT, nothing else set.

The model wins because a row describes one cluster precisely, while the environment is shared by every cluster
of the deployment. `ssl_key_password` has no model field (environment only). The cluster of `KAFKA_BOOTSTRAP`
(no row, no name) uses the defaults of step 3 only. Secrets are better kept in the environment than in a row
(the model stores `sasl_password` in clear). `security_for` is pure: the caller hands it the environment.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from alarm_access.kernel.errors import ConfigError

REDACTED = "***"


class SecurityProtocol(enum.StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"

    @property
    def uses_sasl(self) -> bool:
        return self in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)

    @property
    def uses_ssl(self) -> bool:
        return self in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)


class SaslMechanism(enum.StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


#: the settings, by the name of their model field and environment suffix (`KAFKA_[<CLUSTER>_]<NAME upper>`),
#: mapped to the `KafkaSecurity` field they fill
SETTINGS: dict[str, str] = {
    "security_protocol": "security_protocol",
    "sasl_mechanism": "sasl_mechanism",
    "sasl_username": "username",
    "sasl_password": "password",
    "ssl_ca_location": "ssl_ca_location",
    "ssl_certificate_location": "ssl_certificate_location",
    "ssl_key_location": "ssl_key_location",
    "ssl_key_password": "ssl_key_password",
}
#: the settings a `KafkaTopic` row can carry
MODEL_SETTINGS = tuple(name for name in SETTINGS if name != "ssl_key_password")
_SECRETS = frozenset({"password", "ssl_key_password"})
#: values taken verbatim (a password may start or end with a space); the others are stripped
_VERBATIM = frozenset({"sasl_username", "sasl_password", "ssl_key_password"})
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")
_E = TypeVar("_E", SecurityProtocol, SaslMechanism)


def env_prefix(cluster_name: str) -> str:
    """`KAFKA_<CLUSTER>_`, the prefix of a cluster's own environment settings ("" for no cluster name)."""
    return f"KAFKA_{_NOT_ALNUM.sub('_', cluster_name).upper()}_" if cluster_name else ""


@dataclass(frozen=True, slots=True, repr=False)
class KafkaSecurity:
    """Security settings of the clients of one Kafka cluster; `cluster`/`bootstrap` only name it in messages."""

    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: SaslMechanism | None = None
    username: str | None = None
    password: str | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: str | None = None
    cluster: str = field(default="", compare=False)
    bootstrap: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        protocol = self._member(SecurityProtocol, self.security_protocol, "security_protocol")
        object.__setattr__(self, "security_protocol", protocol)
        if self.sasl_mechanism is not None:
            object.__setattr__(self, "sasl_mechanism",
                               self._member(SaslMechanism, self.sasl_mechanism, "sasl_mechanism"))
        if protocol.uses_sasl:
            if self.sasl_mechanism is None:
                object.__setattr__(self, "sasl_mechanism", SaslMechanism.PLAIN)
            for name in ("sasl_username", "sasl_password"):
                if not getattr(self, SETTINGS[name]):
                    raise self._error(name, f"is required with security_protocol {protocol.value}")
        if protocol.uses_ssl:
            if self.ssl_certificate_location and not self.ssl_key_location:
                raise self._error("ssl_key_location", "is required with ssl_certificate_location (the client "
                                                      "certificate's private key)")
            if self.ssl_key_location and not self.ssl_certificate_location:
                raise self._error("ssl_certificate_location", "is required with ssl_key_location")

    def _member(self, kind: type[_E], value: object, name: str) -> _E:
        try:
            return kind(str(value).strip().upper())
        except ValueError:
            raise self._error(name, f"must be one of {', '.join(m.value for m in kind)}, got {value!r}") from None

    @property
    def label(self) -> str:
        """`kafka cluster 'main' (k1:9092)`: the cluster as messages name it."""
        if self.cluster:
            return f"kafka cluster {self.cluster!r}" + (f" ({self.bootstrap})" if self.bootstrap else "")
        return f"kafka cluster {self.bootstrap}" if self.bootstrap else "kafka cluster"

    def _error(self, name: str, problem: str) -> ConfigError:
        places = [f"KafkaTopic.{name}"] if name in MODEL_SETTINGS else []
        if self.cluster:
            places.append(f"{env_prefix(self.cluster)}{name.upper()}")
        places.append(f"KAFKA_{name.upper()}")
        return ConfigError(f"{self.label}: {name} {problem} (set by {', '.join(places)})")

    def librdkafka_config(self) -> dict[str, str]:
        """The librdkafka keys of these settings; the SASL keys only for SASL, the TLS files only for SSL."""
        config = {"security.protocol": self.security_protocol.value}
        if self.security_protocol.uses_sasl and self.sasl_mechanism is not None:
            config["sasl.mechanisms"] = self.sasl_mechanism.value
            config["sasl.username"] = self.username or ""
            config["sasl.password"] = self.password or ""
        if self.security_protocol.uses_ssl:
            for key, value in (("ssl.ca.location", self.ssl_ca_location),
                               ("ssl.certificate.location", self.ssl_certificate_location),
                               ("ssl.key.location", self.ssl_key_location),
                               ("ssl.key.password", self.ssl_key_password)):
                if value:
                    config[key] = value
        return config

    def redacted(self) -> dict[str, str | None]:
        """Every setting by field name, the password and key password as `***` when set."""
        out: dict[str, str | None] = {}
        for name in SETTINGS.values():
            value = getattr(self, name)
            out[name] = None if value is None else REDACTED if name in _SECRETS else str(value)
        return out

    def scrub(self, text: str) -> str:
        """`text` with the password and the key password replaced by `***` (for client error texts)."""
        for secret in (self.password, self.ssl_key_password):
            if secret:
                text = text.replace(secret, REDACTED)
        return text

    def __repr__(self) -> str:
        shown = [f"cluster={self.cluster!r}"] if self.cluster else []
        shown += [f"{name}={value!r}" for name, value in self.redacted().items() if value is not None]
        return f"KafkaSecurity({', '.join(shown)})"


PLAINTEXT = KafkaSecurity()


def security_for(cluster_name: str, bootstrap: str, env: Mapping[str, str],
                 model: Mapping[str, str | None] | None = None) -> KafkaSecurity:
    """The settings of one cluster: `model` (the `KafkaTopic` row's values by field name), then the per-cluster
    environment `KAFKA_<CLUSTER>_*`, then the defaults `KAFKA_*` (module docstring); `ConfigError` if invalid."""
    model = model or {}
    prefix = env_prefix(cluster_name)

    def pick(name: str) -> str | None:
        candidates = (model.get(name) if name in MODEL_SETTINGS else None,
                      env.get(f"{prefix}{name.upper()}") if prefix else None,
                      env.get(f"KAFKA_{name.upper()}"))
        return next((value for value in (_clean(name, c) for c in candidates) if value), None)

    return KafkaSecurity(
        security_protocol=pick("security_protocol") or SecurityProtocol.PLAINTEXT,  # type: ignore[arg-type]
        sasl_mechanism=pick("sasl_mechanism"),  # type: ignore[arg-type]  # both checked by __post_init__
        username=pick("sasl_username"),
        password=pick("sasl_password"),
        ssl_ca_location=pick("ssl_ca_location"),
        ssl_certificate_location=pick("ssl_certificate_location"),
        ssl_key_location=pick("ssl_key_location"),
        ssl_key_password=pick("ssl_key_password"),
        cluster=cluster_name,
        bootstrap=bootstrap,
    )


def _clean(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    return value if name in _VERBATIM else value.strip()
