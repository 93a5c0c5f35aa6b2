"""Test data for the snapshot benchmark: a 2.4 GiB / 100,000-file tree, generated once from os.urandom.

Layout (the "large" shape of shared/reference/incus-perf.md):
    data/d000 .. d099/f0000 .. f0999   100,000 files of 4 KiB
    data/big/b000 .. b199              200 files of 10,737,418 bytes (~10 MiB)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Shape:
    """How many files of which size a generated tree holds."""

    dirs: int = 100
    files_per_dir: int = 1000
    small_bytes: int = 4096
    big_files: int = 200
    big_bytes: int = 10_737_418

    @property
    def total_bytes(self) -> int:
        """Bytes of file data in the tree."""
        return self.dirs * self.files_per_dir * self.small_bytes + self.big_files * self.big_bytes

    @property
    def total_files(self) -> int:
        """Number of regular files in the tree."""
        return self.dirs * self.files_per_dir + self.big_files


LARGE = Shape()


def generate(shape: Shape, parent: str | Path = "/var/tmp") -> Path:
    """Generate the tree into a new template dir under parent; returns the `data` directory in it."""
    top = Path(tempfile.mkdtemp(prefix="pincus-benchdata-", dir=str(parent)))
    data = top / "data"
    for d in range(shape.dirs):
        sub = data / f"d{d:03d}"
        sub.mkdir(parents=True)
        for f in range(shape.files_per_dir):
            (sub / f"f{f:04d}").write_bytes(os.urandom(shape.small_bytes))
    big = data / "big"
    big.mkdir(parents=True)
    chunk = 1 << 20
    for b in range(shape.big_files):
        with open(big / f"b{b:03d}", "wb") as out:
            left = shape.big_bytes
            while left:
                n = min(chunk, left)
                out.write(os.urandom(n))
                left -= n
    os.sync()
    return data


def remove_template(data: Path) -> None:
    """Delete a template made by generate()."""
    top = data.parent
    if top.name.startswith("pincus-benchdata-"):
        shutil.rmtree(top, ignore_errors=True)


def copy_into(data: Path, rootfs: Path) -> None:
    """Copy the template into an instance's rootfs as rootfs/data (`cp -a`, run on the host)."""
    subprocess.run(["cp", "-a", str(data), str(rootfs / "data")], check=True)


def write_change(rootfs: Path, name: str, nbytes: int, rewrite_small: int = 0, round_: int = 0) -> None:
    """Write one new random file of nbytes under rootfs/chg, and rewrite some 4 KiB files of rootfs/data."""
    chg = rootfs / "chg"
    chg.mkdir(exist_ok=True)
    (chg / name).write_bytes(os.urandom(nbytes))
    if rewrite_small:
        sub = rootfs / "data" / f"d{round_ % 100:03d}"
        for f in range(rewrite_small):
            path = sub / f"f{f:04d}"
            if path.exists():
                path.write_bytes(os.urandom(path.stat().st_size))
