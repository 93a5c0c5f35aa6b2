from __future__ import annotations

import pytest

from pincus.api import filtering
from pincus.base.errors import InvalidArgument

OBJS = [
    {"name": "web", "status": "Running", "config": {"user.role": "front", "snapshots.schedule": "@daily"}},
    {"name": "db", "status": "Stopped", "config": {"user.role": "back"}},
]


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("", ["web", "db"]),
        ("status eq stopped", ["db"]),
        ("status ne Stopped", ["web"]),
        ("name eq web or name eq db", ["web", "db"]),
        ("config.user.role eq back and status eq stopped", ["db"]),
        ("not name eq web", ["db"]),
        ("config.snapshots.schedule eq @daily", ["web"]),
        ("config.user.role eq 'front'", ["web"]),
    ],
)
def test_filters(expr, names):
    assert [o["name"] for o in filtering.apply(expr, OBJS)] == names


@pytest.mark.parametrize("expr", ["name eq", "name gt 3", "name eq a xor name eq b", "name eq 'x"])
def test_bad_filters_name_the_problem(expr):
    with pytest.raises(InvalidArgument, match="Invalid filter"):
        filtering.apply(expr, OBJS)


async def test_instances_endpoint_filters(api):
    await api.create("c1")
    await api.create("c2")
    await api.ok("PUT", "/1.0/instances/c1/state", {"action": "start"})
    assert await api.ok("GET", "/1.0/instances?filter=status+eq+stopped") == ["/1.0/instances/c2"]
    full = await api.ok("GET", "/1.0/instances?recursion=2&filter=status+eq+running")
    assert [o["name"] for o in full] == ["c1"]
