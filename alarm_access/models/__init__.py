"""Django models of alarm-access. Only `alarm_access.adapters.orm` maps them to and from value types."""

from alarm_access.models.alerts import AlertIntegration
from alarm_access.models.incidents import (
    Incident,
    IncidentAlert,
    IncidentOperation,
    IncidentSnapshot,
    IncidentStatus,
)
from alarm_access.models.sources import KafkaTopic, ResultTable, TsdbEndpoint, TsdbKind
from alarm_access.models.strategies import QueryConfig, Strategy, StrategyItem
from alarm_access.models.topology import DynamicGroup, Host, ServiceInstance

__all__ = [
    "AlertIntegration",
    "DynamicGroup",
    "Host",
    "Incident",
    "IncidentAlert",
    "IncidentOperation",
    "IncidentSnapshot",
    "IncidentStatus",
    "KafkaTopic",
    "QueryConfig",
    "ResultTable",
    "ServiceInstance",
    "Strategy",
    "StrategyItem",
    "TsdbEndpoint",
    "TsdbKind",
]
