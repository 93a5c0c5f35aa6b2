"""Publish an instance or a snapshot as an image (a unified tarball: metadata.yaml + rootfs/)."""

from __future__ import annotations

import secrets
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from pincus.base.errors import InvalidArgument, StorageError
from pincus.core.images import Images
from pincus.core.instances import Instances
from pincus.core.state import State
from pincus.db.records import ImageRecord, InstanceRecord


def _tarball(volume_dir: Path, metadata: dict[str, Any], out: Path) -> None:
    """Write a gzip unified image tarball of volume_dir/rootfs with the given metadata."""
    with tempfile.TemporaryDirectory(prefix=".publish-", dir=out.parent) as tmp:
        meta = Path(tmp) / "metadata.yaml"
        meta.write_text(yaml.safe_dump(metadata, default_flow_style=False))
        cmd = ["tar", "--numeric-owner", "--xattrs", "--acls", "-czf", str(out),
               "-C", tmp, "metadata.yaml", "-C", str(volume_dir), "rootfs"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode not in (0, 1):  # 1: a file changed while read (a running instance)
            raise StorageError(f"Failed creating image tarball: {res.stderr.strip()[-500:]}")


async def publish(st: State, instances: Instances, images: Images, req: dict[str, Any]) -> ImageRecord:
    """Build an image from ``source`` (instance or ``inst/snap``) and register it with its aliases."""
    source = req.get("source") or {}
    name = str(source.get("name") or "")
    inst_name, _, snap_name = name.partition("/")
    if not inst_name:
        raise InvalidArgument("No source instance or snapshot given")
    async with instances.reading(inst_name) as rec:  # restores, deletes and renames wait
        return await _publish(st, instances, images, req, rec, snap_name)


async def _publish(st: State, instances: Instances, images: Images, req: dict[str, Any],
                   rec: InstanceRecord, snap_name: str) -> ImageRecord:
    inst_name = rec.name
    config, _ = instances.expanded(rec)
    vol = instances.volume(rec)
    if snap_name:
        st.store.get_snapshot(rec, snap_name)
        vol = vol.snapshot(snap_name)
    elif instances.is_running(rec):
        raise InvalidArgument("The instance is currently running. Use --force to have it stopped and restarted")
    props = {k.removeprefix("image."): v for k, v in config.items() if k.startswith("image.")}
    props.update({str(k): str(v) for k, v in (req.get("properties") or {}).items()})
    metadata = {"architecture": rec.architecture, "creation_date": int(st.clock().timestamp()),
                "properties": props, "templates": {}}
    st.paths.images.mkdir(parents=True, exist_ok=True)
    out = st.paths.images / f".publish-{secrets.token_hex(8)}.tar.gz"
    try:
        volume_dir = st.driver(rec.pool).volume_path(vol)
        await st.blocking(_tarball, volume_dir, metadata, out)
        aliases = [{"name": str(a.get("name")), "description": str(a.get("description") or "")}
                   for a in req.get("aliases") or [] if a.get("name")]
        filename = str(req.get("filename") or f"{inst_name}.tar.gz")
        return await st.blocking(images.import_files, out, None, filename, bool(req.get("public")), aliases)
    finally:
        out.unlink(missing_ok=True)
