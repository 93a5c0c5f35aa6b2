"""Unpack image tarballs safely: validate every member in Python, let the system tar write them.

One pass over the (decompressed) stream: each header is parsed here and checked, and only the
accepted members are re-emitted, with normalised names and headers built here, into
`tar -x --numeric-owner --xattrs`, which creates files, ownership, modes, hard links, device
nodes and xattrs natively and fast. The rules:

* absolute names and any ".." component are refused;
* nothing may be created through a symlink that came from the archive, or replace one;
* a hard link must point at a member already extracted from the same area (rootfs or metadata);
* symlinks may point anywhere (they are resolved inside the container);
* metadata.yaml and templates/ may only hold regular files and directories (templates are read by
  the daemon on the host, so a symlink there could leak host files into a container);
* like Incus, nothing below rootfs dev/ is extracted (liblxc populates /dev) unless asked.

Layout follows Incus's image volume: metadata.yaml, templates/ and rootfs/ side by side.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pincus.base.errors import InsufficientSpace, InvalidArgument, StorageError
from pincus.images import tarstream
from pincus.images.compression import SQUASHFS, Compression, detect_compression, open_tar_stream, widen_pipe
from pincus.images.tarstream import DIR, LINK, SYMLINK, Member, TarFormatError

ROOTFS, META = "rootfs", "meta"
_SUPPORTED = (*tarstream.REGULAR_TYPES, LINK, SYMLINK, tarstream.CHR, tarstream.BLK, DIR, tarstream.FIFO)


def _invalid(message: str) -> InvalidArgument:
    return InvalidArgument(f"Invalid image tarball: {message}")


def _parts(name: str) -> list[str]:
    """Path components of a member name; refuses absolute names and '..'."""
    if name[:1] == "/":
        raise _invalid(f'member "{name}" has an absolute path')
    parts = name.split("/")
    if "" in parts or "." in parts:
        parts = [p for p in parts if p not in ("", ".")]
    if ".." in parts:
        raise _invalid(f'member "{name}" escapes the target directory with ".."')
    return parts


def _classify(parts: list[str], whole_rootfs: bool) -> tuple[str, list[str]] | None:
    """Which area a member belongs to and its path inside it (None: not part of any area)."""
    if whole_rootfs:
        return ROOTFS, parts
    if parts[:1] == ["rootfs"]:
        return ROOTFS, parts[1:]
    if parts == ["metadata.yaml"] or parts[:1] == ["templates"]:
        return META, parts
    return None


@dataclass
class _Plan:
    """Decides, member by member, what is extracted and under which name."""

    areas: dict[str, tuple[str, ...]]  # area -> output prefix
    whole_rootfs: bool
    exclude_dev: bool
    symlinks: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)  # directories (explicit or implied) with checked ancestry
    linkable: dict[str, str] = field(default_factory=dict)  # output path -> area
    seen: set[str] = field(default_factory=set)  # "rootfs" once it had a member; "metadata.yaml"
    count: int = 0

    def route(self, name: str) -> tuple[str, list[str], str] | None:
        """(area, path inside the area, output path) for a member name, or None to skip it."""
        where = _classify(_parts(name), self.whole_rootfs)
        if where is None or where[0] not in self.areas:
            return None
        area, rel = where
        if area == ROOTFS and self.exclude_dev and len(rel) > 1 and rel[0] == "dev":
            return None
        out = "/".join((*self.areas[area], *rel)) or "."
        return area, rel, out

    def accept(self, m: Member) -> Member | None:
        """The member as it should be written, None to skip it; raises on hostile members."""
        routed = self.route(m.name)
        if routed is None:
            return None
        area, rel, out = routed
        self._check_type(m, area, rel)
        self._check_path(m.name, out, m.type == DIR)
        if m.type == LINK:
            m.linkname = self._link_target(m, area)
        if m.type != DIR:
            self.linkable[out] = area
        if m.type == SYMLINK:
            self.symlinks.add(out)
        m.name = out
        if m.is_regular:
            m.type = b"0"
        self.seen.add("metadata.yaml" if rel == ["metadata.yaml"] and area == META else area)
        self.count += 1
        return m

    def _check_type(self, m: Member, area: str, rel: list[str]) -> None:
        if m.sparse:
            raise _invalid(f'member "{m.name}" is a sparse file, which is not supported')
        if m.type not in _SUPPORTED:
            raise _invalid(f'member "{m.name}" has unsupported type {m.type!r}')
        if area == META and not (m.is_regular or m.type == DIR):
            raise _invalid(f'"{m.name}": metadata.yaml and templates/ may only hold files and directories')
        if not rel and m.type != DIR:
            raise _invalid(f'"{m.name}" must be a directory')

    def _check_path(self, name: str, out: str, is_dir: bool) -> None:
        if out in self.symlinks:
            raise _invalid(f'member "{name}" would replace a symlink from the same archive')
        if not is_dir and out in self.dirs:
            # An empty directory replaced by a symlink or link would let later members escape.
            raise _invalid(f'member "{name}" would replace a directory')
        parent = out.rpartition("/")[0]
        if parent and parent not in self.dirs:
            prefix = ""
            for part in parent.split("/"):
                prefix = f"{prefix}/{part}" if prefix else part
                if prefix in self.symlinks:
                    raise _invalid(f'member "{name}" would be written through the symlink "{prefix}"')
                if prefix in self.linkable:
                    raise _invalid(f'member "{name}" would be written below the non-directory "{prefix}"')
                self.dirs.add(prefix)
        if is_dir:
            self.dirs.add(out)

    def _link_target(self, m: Member, area: str) -> str:
        try:
            routed = self.route(m.linkname) if m.linkname else None
        except InvalidArgument:
            routed = None
        if routed is None or self.linkable.get(routed[2]) != area:
            raise _invalid(f'hard link "{m.name}" points outside the extracted files ("{m.linkname}")')
        return routed[2]


def _tar_command(target: Path) -> list[str]:
    # No --acls: with it GNU tar drops system.posix_acl_* xattrs, which is how images carry ACLs
    # (Incus extracts them as plain xattrs too).
    cmd = ["tar", "-x", "-f", "-", "-C", str(target), "--numeric-owner", "--xattrs", "--xattrs-include=*"]
    if os.geteuid() == 0:
        cmd += ["--same-owner", "--same-permissions"]
    return cmd


def _prepare_target(target: Path) -> bool:
    """Make sure target is an empty directory; returns True when it was created here."""
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise InvalidArgument(f'Unpack target "{target}" is not a directory')
    if target.exists():
        if any(target.iterdir()):
            raise InvalidArgument(f'Unpack target "{target}" is not empty')
        return False
    target.mkdir(parents=True, mode=0o755)
    return True


def _clear(target: Path, created: bool) -> None:
    if created:
        shutil.rmtree(target, ignore_errors=True)
        return
    for child in target.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


class _Discard:
    """A sink for a validate-only pass: the clean stream is built and checked, then dropped."""

    def write(self, data: bytes) -> int:
        return len(data)


def _pump(stream: IO[bytes], sink: IO[bytes] | _Discard, plan: _Plan) -> None:
    """Copy the accepted members of a tar stream into sink as a new, clean tar stream."""
    reader = tarstream.TarReader(stream)
    for member in reader:
        out = plan.accept(member)
        if out is None:
            continue
        sink.write(tarstream.encode_header(out))
        if out.is_regular:
            for chunk in reader.data(member, padded=True):
                sink.write(chunk)
    sink.write(tarstream.END_OF_ARCHIVE)


def _tar_failure(target: Path, errors: IO[bytes], rc: int) -> Exception:
    errors.seek(0)
    text = errors.read().decode(errors="replace").strip() or f"exit status {rc}"
    if "No space left on device" in text:
        return InsufficientSpace(f'Failed unpacking image into "{target}": {text}')
    return StorageError(f'Failed unpacking image into "{target}": {text}')


def _run_tar(path: Path, comp: Compression, target: Path, plan: _Plan) -> None:
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(_tar_command(target), stdin=subprocess.PIPE, stderr=errors, bufsize=1 << 18,
                                stdout=subprocess.DEVNULL)
        assert proc.stdin is not None
        widen_pipe(proc.stdin.fileno())
        try:
            with open_tar_stream(path, comp, prefer_tool=True) as stream:
                _pump(stream, proc.stdin, plan)
            proc.stdin.close()
        except BrokenPipeError:
            proc.wait()
            raise _tar_failure(target, errors, proc.returncode) from None
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if proc.wait() != 0:
            raise _tar_failure(target, errors, proc.returncode)


def _image_plan(exclude_dev: bool) -> _Plan:
    """A unified tarball into an image volume: metadata.yaml, templates/ and rootfs/."""
    return _Plan(areas={META: (), ROOTFS: ("rootfs",)}, whole_rootfs=False, exclude_dev=exclude_dev)


def _meta_plan() -> _Plan:
    return _Plan(areas={META: ()}, whole_rootfs=False, exclude_dev=True)


def _rootfs_plan(unified: bool, exclude_dev: bool) -> _Plan:
    return _Plan(areas={ROOTFS: ()}, whole_rootfs=not unified, exclude_dev=exclude_dev)


_IMAGE_NEEDS, _META_NEEDS, _ROOTFS_NEEDS = ("metadata.yaml", ROOTFS), ("metadata.yaml",), (ROOTFS,)


def _check_squashfs(plan: _Plan) -> None:
    if not plan.whole_rootfs:
        raise _invalid("a squashfs file can only be the rootfs of a split image")


def _check_complete(plan: _Plan, required: tuple[str, ...]) -> None:
    missing = [key for key in required if key not in plan.seen]
    if missing:
        raise _invalid(f"{missing[0]} is missing")


def _corrupt(comp: Compression, e: TarFormatError) -> InvalidArgument:
    return _invalid(f"truncated or corrupt {comp.name} tar stream ({e})")


def _extract(tarball: str | Path, target: str | Path, plan: _Plan, required: tuple[str, ...]) -> int:
    path, target = Path(tarball), Path(target)
    comp = detect_compression(path)
    created = _prepare_target(target)
    try:
        if comp is SQUASHFS:
            _check_squashfs(plan)
            _unsquashfs(path, target)
            return -1
        try:
            _run_tar(path, comp, target, plan)
        except TarFormatError as e:
            raise _corrupt(comp, e) from None
        _check_complete(plan, required)
        return plan.count
    except BaseException:
        _clear(target, created)
        raise


def _scan(tarball: str | Path, plan: _Plan, required: tuple[str, ...]) -> int:
    """_extract's checks, member by member, with nothing written."""
    path = Path(tarball)
    comp = detect_compression(path)
    if comp is SQUASHFS:
        _check_squashfs(plan)
        return -1
    try:
        with open_tar_stream(path, comp, prefer_tool=True) as stream:
            _pump(stream, _Discard(), plan)
    except TarFormatError as e:
        raise _corrupt(comp, e) from None
    _check_complete(plan, required)
    return plan.count


def validate_image(tarball: str | Path, rootfs: str | Path | None = None, *, exclude_dev: bool = True) -> int:
    """Run unpack_image's checks over an uploaded image without extracting it; returns the member count.

    Raises InvalidArgument naming the first problem: a hostile member, an unsupported type,
    corrupt compression, a missing metadata.yaml or rootfs.
    """
    if rootfs is None:
        return _scan(tarball, _image_plan(exclude_dev), _IMAGE_NEEDS)
    count = _scan(tarball, _meta_plan(), _META_NEEDS)
    return count + max(_scan(rootfs, _rootfs_plan(False, exclude_dev), _ROOTFS_NEEDS), 0)


def _unsquashfs(path: Path, target: Path) -> None:
    if shutil.which("unsquashfs") is None:
        raise InvalidArgument("Invalid image: a squashfs rootfs needs the `unsquashfs` tool (squashfs-tools)")
    proc = subprocess.run(["unsquashfs", "-f", "-n", "-d", str(target), str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise StorageError(f'Failed unpacking squashfs image into "{target}": {proc.stderr.strip()}')


def unpack_rootfs(tarball: str | Path, target_dir: str | Path, unified: bool, *, exclude_dev: bool = True) -> int:
    """Extract an image's root filesystem into an empty target_dir; returns the member count.

    unified: the tarball holds metadata.yaml + rootfs/ and only rootfs/ is extracted, stripped;
    otherwise it is a split image's rootfs tarball (or squashfs, count -1) extracted whole.
    """
    return _extract(tarball, target_dir, _rootfs_plan(unified, exclude_dev), _ROOTFS_NEEDS)


def unpack_metadata(tarball: str | Path, target_dir: str | Path) -> int:
    """Extract metadata.yaml and templates/ of a metadata or unified tarball into an empty target_dir."""
    return _extract(tarball, target_dir, _meta_plan(), _META_NEEDS)


def unpack_image(
    volume_dir: str | Path, tarball: str | Path, rootfs: str | Path | None = None, *, exclude_dev: bool = True
) -> int:
    """Lay out an image as Incus's image volume: volume_dir/{metadata.yaml,templates/,rootfs/}.

    A unified tarball is read once; a split image is its metadata tarball plus the rootfs file.
    """
    if rootfs is None:
        return _extract(tarball, volume_dir, _image_plan(exclude_dev), _IMAGE_NEEDS)
    created = not Path(volume_dir).exists()
    count = unpack_metadata(tarball, volume_dir)
    try:
        return count + unpack_rootfs(rootfs, Path(volume_dir) / "rootfs", unified=False, exclude_dev=exclude_dev)
    except BaseException:
        _clear(Path(volume_dir), created)
        raise

