"""Which snapshots a copy or refresh sends and deletes (Incus's CompareSnapshots, plus keep-target)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pincus.migration.plan import Item, SnapInfo, plan_transfer

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def snaps(*names: str, uuids: bool = False, received: bool = False) -> list[SnapInfo]:
    out = []
    for i, name in enumerate(names):
        uuid = f"u{name}" if uuids else ""
        out.append(SnapInfo(name, T0 + timedelta(days=i), uuid=uuid, received_uuid=f"u{name}" if received else ""))
    return out


def test_first_copy_sends_every_snapshot_then_the_instance() -> None:
    plan = plan_transfer(snaps("a", "b"), [])
    assert plan.items == [Item("a"), Item("b", base="a"), Item("", base="b")]
    assert plan.delete == []


def test_btrfs_parents_chain_through_the_snapshots_sent() -> None:
    plan = plan_transfer(snaps("a", "b", uuids=True), [], btrfs=True)
    assert plan.items == [Item("a"), Item("b", parent="a"), Item("", parent="b")]


def test_refresh_sends_only_the_missing_ones_and_deletes_what_the_source_dropped() -> None:
    source = snaps("b", "c", "d", uuids=True)
    target = [SnapInfo("a", T0 - timedelta(days=1)), *snaps("b", "c", uuids=True, received=True)]
    plan = plan_transfer(source, target, btrfs=True)
    assert plan.items == [Item("d", parent="c"), Item("", parent="d")]
    assert plan.delete == ["a"]


def test_keep_target_keeps_snapshots_the_source_expired() -> None:
    source = snaps("b", "c")
    target = [SnapInfo("a", T0 - timedelta(days=1)), *snaps("b")]
    plan = plan_transfer(source, target, keep_target=True)
    assert plan.delete == []
    assert plan.items == [Item("c", base="b"), Item("", base="c")]


def test_same_name_other_date_is_replaced_even_when_keeping() -> None:
    source = snaps("a")
    target = [SnapInfo("a", T0 + timedelta(hours=5))]
    for keep in (False, True):
        plan = plan_transfer(source, target, keep_target=keep)
        assert plan.delete == ["a"]
        assert plan.items[0] == Item("a")


def test_a_btrfs_parent_must_have_been_received_from_this_source() -> None:
    source = snaps("a", "b", uuids=True)
    target = snaps("a")  # same name and date, but made locally: no received UUID
    plan = plan_transfer(source, target, btrfs=True)
    assert plan.items == [Item("b"), Item("", parent="b")]
    rsync = plan_transfer(source, target)
    assert rsync.items == [Item("b", base="a"), Item("", base="b")]


def test_exclude_older_skips_missing_snapshots_older_than_the_newest_match() -> None:
    source = snaps("a", "b", "c")
    target = [snaps("a", "b", "c")[1]]
    plan = plan_transfer(source, target, exclude_older=True)
    assert [i.name for i in plan.items] == ["c", ""]
    assert [i.name for i in plan_transfer(source, target).items] == ["a", "c", ""]


def test_instance_only_sends_the_instance_and_deletes_nothing() -> None:
    source = snaps("a", "b", uuids=True)
    target = [SnapInfo("x", T0), *snaps("a", uuids=True, received=True)]
    plan = plan_transfer(source, target, snapshots=False, btrfs=True)
    assert plan.items == [Item("", parent="a")]
    assert plan.delete == []


def test_rsync_falls_back_to_any_kept_target_snapshot_as_base() -> None:
    source = snaps("n")
    target = [SnapInfo("old", T0 - timedelta(days=3))]
    plan = plan_transfer(source, target, keep_target=True)
    assert plan.items == [Item("n", base="old"), Item("", base="n")]
