from __future__ import annotations

import hashlib
from typing import Any

import pytest

from alarm_access.kernel.hashing import count_md5


def reference_md5(content: Any) -> str:
    """The original helper's recursion, written plainly, to check the fast path against."""
    if isinstance(content, dict):
        return reference_md5([(str(k), reference_md5(content[k])) for k in sorted(content.keys())])
    if isinstance(content, list | tuple):
        content = sorted(reference_md5(k) for k in content)
    return hashlib.md5(str(content).encode("utf8")).hexdigest()


@pytest.mark.parametrize(
    ("content", "digest"),
    [
        ({"bk_target_ip": "127.0.0.1", "bk_target_cloud_id": "0"}, "ac6847eefd664275c7b3693829f68bab"),
        ({"bk_target_ip": "127.0.0.2", "bk_target_cloud_id": "0"}, "f4ec8daee39b9206a6a8f464c33116e0"),
        ({"bk_target_ip": "127.0.0.3", "bk_target_cloud_id": "0"}, "3ba33c30c94d4cbe8122976144dd7714"),
        ({"bk_target_ip": "127.0.0.1", "bk_target_cloud_id": 0}, "ac6847eefd664275c7b3693829f68bab"),
        ({}, "d751713988987e9331980363e24189ce"),
        (["bk_target_ip", "bk_target_cloud_id"], "577df6a0159c4a9d9aace4b54dd46f80"),
        ({"ip": "127.0.0.1", "bk_cloud_id": 0}, "4929d5c5785ba5624f0f70c208081f56"),
    ],
)
def test_spec_vectors(content: Any, digest: str) -> None:
    assert count_md5(content) == digest


@pytest.mark.parametrize(
    "content",
    [
        {"a": None, "b": True, "c": 1.0, "d": 0, "e": ""},
        {"a": [1, "2", None], "b": {"x": (1, 2)}, "c": 3},
        {"bk_target_ip": "127.0.0.1", "bk_host_id": 2, "bk_topo_node": ["biz|2", "module|9", "set|5"]},
        {"a": [True, 1, 1.0, None]},
        {"a": (1,)},
        {"a": ["[1]"]},
        {"a": [[1]]},
        {"a": [{"k": 1}], "b": []},
        [{"k": "v"}, ("pair", "x"), [], {}],
        ("a", "b"),
        "plain",
        1.5,
        None,
    ],
)
def test_matches_the_plain_recursion(content: Any) -> None:
    assert count_md5(content) == reference_md5(content)


def test_key_order_and_scalar_type_do_not_matter() -> None:
    assert count_md5({"a": 1, "b": "x"}) == count_md5({"b": "x", "a": "1"})
    assert count_md5({"a": 1}) != count_md5({"a": 1.0})


def test_sequence_memo_keeps_equal_but_differently_printed_values_apart() -> None:
    # 1 == 1.0 == True and "[1]" prints like [1]: each must still hash as the original does, in any order
    contents = [{"a": [1]}, {"a": [1.0]}, {"a": [True]}, {"a": ["[1]"]}, {"a": [[1]]}, {"a": [1]}]
    assert [count_md5(c) for c in contents] == [reference_md5(c) for c in contents]
    assert len({count_md5(c) for c in contents}) == 5
