"""Profiles and how they expand into an instance's effective config and devices."""

from __future__ import annotations

from pincus.base.errors import InvalidArgument, NotFound
from pincus.db.store import Store

Devices = dict[str, dict[str, str]]


def expand(store: Store, profiles: list[str], config: dict[str, str], devices: Devices) -> tuple[dict[str, str], Devices]:
    """Merge the profiles (in order) under the local config and devices, as Incus does."""
    out_config: dict[str, str] = {}
    out_devices: Devices = {}
    for name in profiles:
        try:
            prof = store.get_profile(name)
        except NotFound:
            continue
        out_config.update(prof.config)
        out_devices.update({k: dict(v) for k, v in prof.devices.items()})
    out_config.update(config)
    out_devices.update({k: dict(v) for k, v in devices.items()})
    return out_config, out_devices


def check_profiles_exist(store: Store, profiles: list[str]) -> None:
    """Fail with Incus's message when a named profile does not exist."""
    for name in profiles:
        try:
            store.get_profile(name)
        except NotFound:
            raise InvalidArgument(f'Requested profile "{name}" doesn\'t exist') from None


def root_disk_pool(devices: Devices) -> str:
    """The pool of the root disk device (type disk, path /)."""
    for dev in devices.values():
        if dev.get("type") == "disk" and dev.get("path") == "/":
            pool = dev.get("pool", "")
            if pool:
                return pool
    raise InvalidArgument("Failed detecting root disk device: No root device could be found")
