"""Pure conversions from the original system's JSON documents (strategies, CMDB hosts) to value types.

No Django, no I/O: every function takes parsed JSON and returns `alarm_access.kernel.model` values, raising or
collecting `InvalidStrategy` errors that name the entry and the field.
"""

from alarm_access.formats.hosts import (
    parse_dynamic_group,
    parse_host,
    parse_service_instance,
    parse_topology_document,
)
from alarm_access.formats.strategies import parse_strategy, parse_strategy_documents

__all__ = [
    "parse_dynamic_group",
    "parse_host",
    "parse_service_instance",
    "parse_strategy",
    "parse_strategy_documents",
    "parse_topology_document",
]
