"""Every combination of `-H` (that the access type dispatches to), `--access-type` and `--hash-ring` of a built
access type is accepted; the rest is refused with a one-line reason."""

from __future__ import annotations

import itertools

import pytest

from alarm_access.access.registry import REGISTRY, spec_for
from alarm_access.kernel.config import AccessConfig, AccessType, HandlerType
from alarm_access.kernel.errors import ConfigError

BUILT = [kind for kind, spec in REGISTRY.items() if spec.build is not None]


@pytest.mark.parametrize(("access_type", "handler", "ring"),
                         [(kind, handler, ring) for kind in BUILT for handler, ring in
                          itertools.product(REGISTRY[kind].dispatchers, ("0", "1"))])
def test_every_combination_of_a_built_type_is_accepted(access_type: AccessType, handler: HandlerType,
                                                       ring: str) -> None:
    config = AccessConfig.build({}, {"access_type": access_type.value, "handler_type": handler.value,
                                     "hash_ring": ring})
    assert spec_for(config).build is not None


def test_the_built_types_are_the_ones_this_release_promises() -> None:
    both = {HandlerType.PROCESS, HandlerType.CELERY}
    assert all(REGISTRY[kind].dispatchers == both for kind in
               (AccessType.DATA, AccessType.EVENT, AccessType.REAL_TIME_DATA, AccessType.INCIDENT))


@pytest.mark.parametrize("access_type", [kind for kind in AccessType if kind not in BUILT])
def test_a_type_not_built_is_refused_with_one_line(access_type: AccessType) -> None:
    with pytest.raises(ConfigError, match="not implemented yet") as refused:
        spec_for(AccessConfig.build({}, {"access_type": access_type.value}))
    assert "\n" not in str(refused.value)
