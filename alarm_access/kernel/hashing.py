"""Byte-exact port of the original `count_md5` helper (spec data-access §2.3).

The algorithm, which every SGK, record id and noise-reduce member depends on:

* ``md5hex(s)``: lowercase hex MD5 of the UTF-8 bytes of ``s``;
* dict: ``count_md5([(str(k), count_md5(v)) for k in sorted(keys)])``;
* list/tuple: ``md5hex(repr(sorted(count_md5(e) for e in x)))``; a pair is a 2-tuple hashed the same way;
* anything else: ``md5hex(str(x))`` (so ``0`` and ``"0"`` hash identically).

`count_md5` is on the hot path (one call per pulled point or event anomaly), so a dict's `(key, value)`
pairs whose value is a scalar or a list/tuple of scalars (the host topology `bk_topo_node`) take a
shortcut that produces the same digest without building the intermediate lists, and their digests are
memoised. `tests/test_hashing.py` checks the shortcut against the plain recursion.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from typing import Any


def _fastest_md5() -> Callable[[bytes], Any]:
    # CPython's built-in MD5 is about twice as fast as OpenSSL's for inputs this small.
    try:
        return importlib.import_module("_md5").md5  # type: ignore[no-any-return]
    except ImportError:  # interpreters built without it
        return hashlib.md5


md5 = _fastest_md5()

__all__ = ["count_md5", "md5hex"]

_SCALARS = (str, int, float, bool, type(None))


def md5hex(text: str) -> str:
    """Lowercase hex MD5 of the UTF-8 bytes of `text`."""
    digest: str = md5(text.encode("utf-8")).hexdigest()
    return digest


def _hash_list(hashes: list[str]) -> str:
    hashes.sort()
    # Python's repr of a sorted list of hex strings, "['h1', 'h2']" ("[]" when empty): hex digests never
    # need escaping, so the repr is built by joining.
    text = "['" + "', '".join(hashes) + "']" if hashes else "[]"
    digest: str = md5(text.encode()).hexdigest()
    return digest


_PAIR_CACHE_SIZE = 1 << 16
#: memo of pair digests: series repeat across time buckets and dimension values (cloud "0") everywhere.
#: A plain dict emptied when full is cheaper than an LRU on a miss-heavy workload.
_pairs: dict[tuple[str, str], str] = {}


def _pair_md5(key: str, value_text: str) -> str:
    """Digest of the pair `(key, count_md5(value))` for a scalar value whose `str()` is `value_text`."""
    digest = _pairs.get((key, value_text))
    if digest is None:
        if len(_pairs) >= _PAIR_CACHE_SIZE:
            _pairs.clear()
        digest = _pairs[key, value_text] = _hash_list([md5hex(key), md5hex(md5hex(value_text))])
    return digest


#: memo of `(key, list of scalars)` pair digests: the host topology list (`bk_topo_node`) repeats for every
#: record of a host. The memo key is the `str()` of each element, which is exactly what their digests hash.
_sequence_pairs: dict[tuple[str, tuple[str, ...]], str] = {}


def _sequence_pair_md5(key: str, texts: tuple[str, ...]) -> str:
    """Digest of the pair `(key, count_md5(sequence))` for a sequence of scalars whose `str()`s are `texts`."""
    digest = _sequence_pairs.get((key, texts))
    if digest is None:
        if len(_sequence_pairs) >= _PAIR_CACHE_SIZE:
            _sequence_pairs.clear()
        value_digest = _hash_list([md5hex(text) for text in texts])
        digest = _sequence_pairs[key, texts] = _hash_list([md5hex(key), md5hex(value_digest)])
    return digest


def _pair_digest(key: Any, value: Any) -> str:
    if isinstance(value, _SCALARS):
        return _pair_md5(str(key), str(value))
    if isinstance(value, list | tuple) and all(isinstance(element, _SCALARS) for element in value):
        return _sequence_pair_md5(str(key), tuple(map(str, value)))
    return _hash_list([md5hex(str(key)), md5hex(count_md5(value))])


def count_md5(content: Any) -> str:
    """Digest of `content` exactly as the original `count_md5(content)` computes it.

    Values may nest dicts, lists and tuples. Sets and other types hash as `str()`, like the original.
    """
    if isinstance(content, dict):
        # Keys are sorted by the original before hashing, but the pair digests are sorted again afterwards,
        # so the key order cannot change the result and no sort of the keys is needed here.
        for value in content.values():
            if not isinstance(value, _SCALARS):
                break
        else:  # the commonest case (time-series dimensions): a flat dict of scalars
            return _hash_list([_pair_md5(str(key), str(value)) for key, value in content.items()])
        return _hash_list([_pair_digest(key, value) for key, value in content.items()])
    if isinstance(content, list | tuple):
        return _hash_list([count_md5(element) for element in content])
    return md5hex(str(content))
