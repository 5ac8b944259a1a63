"""ORM adapter: the only code that maps between Django rows and documents / value types.

`strategies` stores the original strategy JSON so that it can be dumped back unchanged; `topology` upserts
and loads CMDB hosts, service instances and dynamic groups.
"""

from alarm_access.adapters.orm.strategies import (
    load_strategies,
    save_strategy_document,
    strategy_documents,
)
from alarm_access.adapters.orm.topology import load_topology, save_topology

__all__ = ["load_strategies", "load_topology", "save_strategy_document", "save_topology", "strategy_documents"]
