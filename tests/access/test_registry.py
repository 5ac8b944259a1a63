"""Every combination of `-H`, `--access-type` and `--hash-ring` is a service: the registry has an entry, with a
builder and a dry run, for every access type, and building a service is the same call for all of them."""

from __future__ import annotations

import itertools

import pytest

from alarm_access.access.registry import PREVIEWERS, REGISTRY
from alarm_access.kernel.config import AccessConfig, AccessType, HandlerType


def test_every_access_type_has_a_builder_and_a_preview() -> None:
    assert set(REGISTRY) == set(AccessType)
    assert set(PREVIEWERS) == {kind.value for kind in AccessType}


@pytest.mark.parametrize(("access_type", "handler", "ring"),
                         list(itertools.product(AccessType, HandlerType, ("0", "1"))))
def test_every_combination_is_accepted(access_type: AccessType, handler: HandlerType, ring: str) -> None:
    config = AccessConfig.build({}, {"access_type": access_type.value, "handler_type": handler.value,
                                     "hash_ring": ring})
    assert (config.access_type, config.handler_type, config.hash_ring) == (access_type, handler, ring == "1")
