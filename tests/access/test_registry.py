"""The registry has an entry, with a builder and a dry run, for every access type (each type's service is run
end to end by its own tests in tests/e2e)."""

from __future__ import annotations

from alarm_access.access.registry import PREVIEWERS, REGISTRY
from alarm_access.kernel.config import AccessType


def test_every_access_type_has_a_builder_and_a_preview() -> None:
    assert set(REGISTRY) == set(AccessType)
    assert set(PREVIEWERS) == {kind.value for kind in AccessType}

