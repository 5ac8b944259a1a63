"""The cyclic garbage collector around the service's bulk work: paused while millions of acyclic containers are
made (`gc_paused`), and kept off what a strategy refresh built, which lives until the next one (`refreeze`).

CPython's collector traverses every tracked container of a generation when it runs; a process holding a
deployment's strategies, hosts and routing would pay that again and again (40-60 ms stops of an event loop,
seconds for a large data catalog) for no garbage.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def gc_paused(function: Callable[P, R]) -> Callable[P, R]:
    """Run `function` with the cyclic garbage collector disabled, restoring its previous state after.

    For bulk steps that allocate millions of acyclic containers (records, dicts, tuples): the collector
    would otherwise traverse them again and again for no garbage. Cycles made meanwhile are collected later.
    """

    @functools.wraps(function)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        if not gc.isenabled():
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.enable()

    return paused


def refreeze() -> None:
    """After a refresh: collect once over everything, the earlier refresh's frozen objects included (else its
    cyclic garbage would never go), then freeze what is left out of later collections' way."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
