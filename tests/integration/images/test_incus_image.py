"""pincus.images against the real Incus 6.0: same fingerprints, same record, same unpacked tree."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pincus.images.fingerprint import fingerprint, image_size
from pincus.images.metadata import read_metadata
from pincus.images.record import Image, ImageAlias
from pincus.images.unpack import unpack_image
from tests.support.incusd import IncusDaemon, incus_available, start_incusd

CACHE = Path(__file__).resolve().parents[3] / "images-cache"
UNIFIED = CACHE / "busybox.tar.xz"
META, ROOTFS = CACHE / "busybox-meta.tar.xz", CACHE / "busybox-rootfs.tar.xz"

pytestmark = [
    pytest.mark.incus,
    pytest.mark.skipif(not incus_available(), reason="needs root and the real Incus (incusd, incus)"),
    pytest.mark.skipif(not (UNIFIED.exists() and META.exists() and ROOTFS.exists()),
                       reason="run scripts/build-busybox-image.sh images-cache first"),
]


@pytest.fixture(scope="module")
def incusd() -> Iterator[IncusDaemon]:
    daemon = start_incusd()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def images(incusd: IncusDaemon) -> dict[str, str]:
    return {"split": incusd.import_image(META, ROOTFS, alias="busybox"), "unified": incusd.import_image(UNIFIED)}


def test_fingerprints_match_incus(images: dict[str, str]) -> None:
    assert images["unified"] == fingerprint(UNIFIED)
    assert images["split"] == fingerprint(META, ROOTFS)


@pytest.mark.parametrize("kind", ["split", "unified"])
def test_record_matches_incus(kind: str, incusd: IncusDaemon, images: dict[str, str]) -> None:
    files = (META, ROOTFS) if kind == "split" else (UNIFIED,)
    real = incusd.query(f"/1.0/images/{images[kind]}")
    assert isinstance(real, dict)
    meta, image_type = read_metadata(files[0])
    ours = Image.from_metadata(
        meta, fingerprint=fingerprint(*files), filename=files[-1].name, size=image_size(*files),
        image_type="container" if kind == "split" else image_type,
        aliases=[ImageAlias("busybox")] if kind == "split" else [],
    ).to_api()
    assert set(ours) == set(real)
    for key in ("fingerprint", "filename", "size", "architecture", "type", "properties", "created_at",
                "expires_at", "public", "auto_update", "cached", "profiles", "project", "aliases"):
        assert ours[key] == real[key], key


def _tree(root: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                extra: object = os.readlink(path)
            else:
                extra = (st.st_size if stat.S_ISREG(st.st_mode) else 0, st.st_nlink if not stat.S_ISDIR(st.st_mode) else 0,
                         sorted((x, os.getxattr(path, x)) for x in os.listxattr(path)))
            out[str(path.relative_to(root))] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                                                int(st.st_mtime), extra)
    return out


IMAGES = {"busybox": (UNIFIED,), "busybox-split": (META, ROOTFS), "debian": (CACHE / "debian.tar.xz",)}


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_unpacked_tree_matches_an_incus_instance_volume(image: str, incusd: IncusDaemon, tmp_path: Path) -> None:
    files = IMAGES[image]
    if not files[0].exists():
        pytest.skip(f"{files[0]} not built (scripts/build-debian-image.sh images-cache)")
    fp = fingerprint(*files)
    if fp not in incusd.run("image", "list", "-f", "csv", "-c", "F").stdout:
        incusd.import_image(*files)
    name = incusd.unique("unpack")
    incusd.run("init", fp, name, timeout=600)
    try:
        real = _tree(incusd.incus_dir / "storage-pools/default/containers" / name)
        unpack_image(tmp_path / "vol", *files)
        ours = _tree(tmp_path / "vol")
    finally:
        incusd.run("delete", name)
    # Incus adds backup.yaml and renders the image's create-time templates into the rootfs.
    templated = {"backup.yaml", *("rootfs" + p for p in read_metadata(files[0])[0].templates)}
    assert {k: v for k, v in real.items() if k not in templated} == {k: v for k, v in ours.items() if k not in templated}


def test_busybox_lifecycle_on_real_incus(incusd: IncusDaemon, images: dict[str, str]) -> None:
    name = incusd.unique("bb")
    incusd.run("launch", "busybox", name)
    try:
        assert incusd.run("exec", name, "--", "true", check=False).returncode == 0
        assert incusd.run("exec", name, "--", "sh", "-c", "exit 3", check=False).returncode == 3
        incusd.run("snapshot", "create", name, "s0")
        incusd.run("exec", name, "--", "touch", "/root/this_file.txt")
        incusd.run("stop", name, timeout=60)  # the image's init halts on SIGPWR: this must not hang
        incusd.run("snapshot", "restore", name, "s0")
        incusd.run("start", name)
        assert incusd.run("exec", name, "--", "test", "-e", "/root/this_file.txt", check=False).returncode == 1
        incusd.run("stop", name, timeout=60)
    finally:
        incusd.run("delete", "--force", name)
