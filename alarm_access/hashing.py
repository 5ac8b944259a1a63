"""Byte-exact port of the original `count_md5` helper (spec data-access §2.3).

The algorithm, which every SGK, record id and noise-reduce member depends on:

* ``md5hex(s)``: lowercase hex MD5 of the UTF-8 bytes of ``s``;
* dict: ``count_md5([(str(k), count_md5(v)) for k in sorted(keys)])``;
* list/tuple: ``md5hex(repr(sorted(count_md5(e) for e in x)))``; a pair is a 2-tuple hashed the same way;
* anything else: ``md5hex(str(x))`` (so ``0`` and ``"0"`` hash identically).

`count_md5` is on the hot path (one call per pulled point), so flat dicts of scalars take a shortcut that
produces the same digest without building the intermediate lists, and hashes of repeated `(key, value)`
pairs are memoised. `tests/test_hashing.py` checks the shortcut against the plain recursion.
"""

from __future__ import annotations

from functools import lru_cache
from hashlib import md5
from typing import Any

__all__ = ["count_md5", "md5hex"]

_SCALARS = (str, int, float, bool, type(None))


def md5hex(text: str) -> str:
    """Lowercase hex MD5 of the UTF-8 bytes of `text`."""
    return md5(text.encode("utf-8")).hexdigest()


def _render(hashes: list[str]) -> str:
    # Python's repr of a list of hex strings: "['h1', 'h2']"; hex digests never need escaping.
    return "[" + ", ".join(f"'{h}'" for h in hashes) + "]"


def _hash_list(hashes: list[str]) -> str:
    hashes.sort()
    return md5hex(_render(hashes))


@lru_cache(maxsize=1 << 16)
def _pair_md5(key: str, value_text: str) -> str:
    """Digest of the pair `(key, count_md5(value))` for a scalar value whose `str()` is `value_text`."""
    return _hash_list([md5hex(key), md5hex(md5hex(value_text))])


def _flat_dict_md5(content: dict[Any, Any]) -> str:
    # Keys are sorted by the original before hashing, but the pair digests are sorted again afterwards,
    # so the key order cannot change the result and no sort of the keys is needed here.
    return _hash_list([_pair_md5(str(key), str(value)) for key, value in content.items()])


def count_md5(content: Any) -> str:
    """Digest of `content` exactly as the original `count_md5(content)` computes it.

    Values may nest dicts, lists and tuples. Sets and other types hash as `str()`, like the original.
    """
    if isinstance(content, dict):
        for value in content.values():
            if not isinstance(value, _SCALARS):
                break
        else:
            return _flat_dict_md5(content)
        return _hash_list([_hash_list([md5hex(str(key)), md5hex(count_md5(value))]) for key, value in content.items()])
    if isinstance(content, list | tuple):
        return _hash_list([count_md5(element) for element in content])
    return md5hex(str(content))
