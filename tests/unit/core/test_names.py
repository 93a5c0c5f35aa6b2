"""Instance, snapshot, profile and pool names: Incus 6.0 rules and messages."""

from __future__ import annotations

import random

import pytest

from pincus.base.errors import InvalidArgument
from pincus.core import names


@pytest.mark.parametrize(
    "name",
    ["c1", "a", "A-Z9", "web-01", "1abc", "0x10", "a" * 63, "a-b-c", "x1-2"],
)
def test_valid_instance_names(name: str) -> None:
    names.validate_instance_name(name)
    names.validate_name(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Invalid instance name: Name must be 1-63 characters long"),
        ("a" * 64, "Invalid instance name: Name must be 1-63 characters long"),
        ("é" * 32, "Invalid instance name: Name must be 1-63 characters long"),  # 64 bytes
        ("-a", 'Invalid instance name: Name must not start with "-" character'),
        ("-", 'Invalid instance name: Name must not start with "-" character'),
        ("a-", 'Invalid instance name: Name must not end with "-" character'),
        ("123", "Invalid instance name: Name cannot be a number"),
        ("0", "Invalid instance name: Name cannot be a number"),
        # Incus lets all-digit names through once they overflow a uint64; pincus does not.
        ("9" * 25, "Invalid instance name: Name cannot be a number"),
        ("a_b", "Invalid instance name: Name can only contain alphanumeric and hyphen characters"),
        ("a.b", "Invalid instance name: Name can only contain alphanumeric and hyphen characters"),
        ("a b", "Invalid instance name: Name can only contain alphanumeric and hyphen characters"),
        ("héllo", "Invalid instance name: Name can only contain alphanumeric and hyphen characters"),
        ("c1\n", "Invalid instance name: Name can only contain alphanumeric and hyphen characters"),
        ("c1/snap0", 'The character "/" is reserved for snapshots'),
        ("/", 'The character "/" is reserved for snapshots'),
    ],
)
def test_invalid_instance_names(name: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        names.validate_instance_name(name)
    assert str(err.value) == message


@pytest.mark.parametrize(
    "name",
    ["snap0", "2026-01-02_15-04-05", "a.b", "with:colon", "UPPER", "ünï", "snap%0", "x" * 200, "...", ".a"],
)
def test_valid_snapshot_names(name: str) -> None:
    names.validate_snapshot_name(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Invalid snapshot name: Cannot be empty"),
        ("a/b", 'Invalid snapshot name: Cannot contain "/"'),
        ("a?b", 'Invalid snapshot name: Cannot contain "?"'),
        ("a&b", 'Invalid snapshot name: Cannot contain "&"'),
        ("a+b", 'Invalid snapshot name: Cannot contain "+"'),
        ("?/", 'Invalid snapshot name: Cannot contain "/"'),  # checked in Incus's order: / ? & +
        ("a\x00b", 'Invalid snapshot name: Cannot contain "\\x00"'),
        (".", 'Invalid snapshot name: Cannot be "." or ".."'),
        ("..", 'Invalid snapshot name: Cannot be "." or ".."'),
        ("a b", "Invalid instance snapshot name: Cannot contain space or / characters"),
        ("a\tb", "Invalid snapshot name: Name cannot contain white space"),
        ("a\nb", "Invalid snapshot name: Name cannot contain white space"),
        ("a\u00a0b", "Invalid snapshot name: Name cannot contain white space"),
    ],
)
def test_invalid_snapshot_names(name: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        names.validate_snapshot_name(name)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("full", "message"),
    [
        ("c1/snap0", None),
        ("c1/a.b", None),
        ("-c/snap0", 'Invalid instance name: Name must not start with "-" character'),
        ("/snap0", "Invalid instance name: Name must be 1-63 characters long"),
        ("c1/a b", "Invalid instance snapshot name: Cannot contain space or / characters"),
        ("c1/a/b", 'Invalid snapshot name: Cannot contain "/"'),
        ("c1/", "Invalid snapshot name: Cannot be empty"),
    ],
)
def test_validate_full_snapshot_name(full: str, message: str | None) -> None:
    if message is None:
        names.validate_name(full, is_snapshot=True)
        return
    with pytest.raises(InvalidArgument) as err:
        names.validate_name(full, is_snapshot=True)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("full", "parts", "is_snapshot"),
    [
        ("c1/snap0", ("c1", "snap0"), True),
        ("c1", ("c1", ""), False),
        ("c1/a/b", ("c1", "a/b"), True),
        ("c1/", ("c1", ""), True),
        ("/snap0", ("", "snap0"), True),
        ("", ("", ""), False),
    ],
)
def test_split_snapshot_name(full: str, parts: tuple[str, str], is_snapshot: bool) -> None:
    assert names.split_snapshot_name(full) == parts
    assert names.is_snapshot_name(full) is is_snapshot


def test_full_name_round_trip() -> None:
    assert names.SNAPSHOT_DELIMITER == "/"
    assert names.full_name("c1", "snap0") == "c1/snap0"
    assert names.split_snapshot_name(names.full_name("c1", "snap0")) == ("c1", "snap0")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("default", None),
        ("my profile", None),
        ("", "No name provided"),
        ("a/b", "Profile names may not contain slashes"),
        (".", 'Invalid profile name "."'),
        ("..", 'Invalid profile name ".."'),
    ],
)
def test_profile_names(name: str, message: str | None) -> None:
    if message is None:
        names.validate_profile_name(name)
        return
    with pytest.raises(InvalidArgument) as err:
        names.validate_profile_name(name)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("default", None),
        ("pool_1.x", None),
        ("", "No name provided"),
        ("a/b", "Storage pool names may not contain slashes"),
        ("a b", "Storage name cannot contain white space"),
        ("a\tb", "Storage name cannot contain white space"),
        ("..", 'Invalid storage pool name ".."'),
    ],
)
def test_pool_names(name: str, message: str | None) -> None:
    if message is None:
        names.validate_pool_name(name)
        return
    with pytest.raises(InvalidArgument) as err:
        names.validate_pool_name(name)
    assert str(err.value) == message


def test_random_instance_name_is_valid_and_free() -> None:
    first = names.random_instance_name(rng=random.Random(1))
    names.validate_instance_name(first)
    assert first.count("-") == 1
    again = names.random_instance_name(existing=[first], rng=random.Random(1))
    assert again != first
    names.validate_instance_name(again)
