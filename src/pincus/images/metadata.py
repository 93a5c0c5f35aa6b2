"""metadata.yaml of an Incus image: parsing and validation, as cmd/incusd/images.go does it.

Scalars are read as their literal text (YAML's base schema), the way Go's yaml decoder fills the
`map[string]string` properties: `release: 12.10` stays "12.10", not the float 12.1.
"""

from __future__ import annotations

import lzma
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pincus.base.errors import InvalidArgument
from pincus.images.compression import Compression, detect_compression, open_tar_stream

METADATA_NAMES = ("metadata.yaml", "./metadata.yaml")
MAX_METADATA_BYTES = 16 << 20

# Incus's shared/osarch: canonical names and the aliases it accepts for each.
ARCHITECTURES: dict[str, tuple[str, ...]] = {
    "i686": ("i386", "i586", "386", "x86", "generic_32"),
    "x86_64": ("amd64", "generic_64"),
    "armv6l": ("armel", "arm"),
    "armv7l": ("armhf", "armhfp", "armv7a_hardfp", "armv7", "armv7a_vfpv3_hardfp"),
    "armv8l": (),
    "aarch64": ("arm64", "arm64_generic"),
    "ppc": ("powerpc",),
    "ppc64": ("powerpc64",),
    "ppc64le": ("ppc64el",),
    "s390x": (),
    "mips": ("mipsel", "mipsle"),
    "mips64": ("mips64el", "mips64le"),
    "riscv32": (),
    "riscv64": (),
    "loongarch64": ("loong64",),
}
_YAML_TRUE = {"y", "yes", "true", "on"}
_YAML_FALSE = {"n", "no", "false", "off", ""}

# Errors a truncated or corrupt compressed tar stream raises while being read.
STREAM_ERRORS = (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error, OSError, ValueError)


def canonical_architecture(name: str) -> str:
    """Incus's canonical name for an architecture or one of its aliases."""
    for canonical, aliases in ARCHITECTURES.items():
        if name == canonical or name in aliases:
            return canonical
    raise InvalidArgument(f"Architecture isn't supported: {name}")


@dataclass
class ImageTemplate:
    """One entry of metadata.yaml's `templates` (api.ImageMetadataTemplate)."""

    when: list[str] = field(default_factory=list)
    create_only: bool = False
    template: str = ""
    properties: dict[str, str] = field(default_factory=dict)
    uid: str = ""
    gid: str = ""
    mode: str = ""

    def to_api(self) -> dict[str, Any]:
        """The JSON form Incus uses (uid, gid and mode only when set)."""
        out: dict[str, Any] = {"when": list(self.when), "create_only": self.create_only,
                               "template": self.template, "properties": dict(self.properties)}
        for key in ("uid", "gid", "mode"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


@dataclass
class ImageMetadata:
    """The contents of an image's metadata.yaml (api.ImageMetadata)."""

    architecture: str
    creation_date: int
    expiry_date: int = 0
    properties: dict[str, str] = field(default_factory=dict)
    templates: dict[str, ImageTemplate] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        """The JSON form Incus uses, e.g. in GET /1.0/instances/NAME/metadata."""
        return {"architecture": self.architecture, "creation_date": self.creation_date,
                "expiry_date": self.expiry_date, "properties": dict(self.properties),
                "templates": {path: t.to_api() for path, t in self.templates.items()}}


def parse_metadata(data: bytes | str) -> ImageMetadata:
    """Parse and validate metadata.yaml text."""
    try:
        doc = yaml.load(data, Loader=yaml.BaseLoader)
    except yaml.YAMLError as e:
        raise InvalidArgument(f"Invalid image metadata: metadata.yaml is not valid YAML: {e}") from None
    doc = {} if doc in (None, "") else doc
    if not isinstance(doc, dict):
        raise InvalidArgument("Invalid image metadata: metadata.yaml is not a mapping")
    arch = _scalar(doc, "architecture")
    canonical_architecture(arch)
    meta = ImageMetadata(
        architecture=arch,
        creation_date=_int(doc, "creation_date"),
        expiry_date=_int(doc, "expiry_date"),
        properties=_str_map(doc.get("properties"), "properties"),
        templates=_templates(doc.get("templates")),
    )
    if meta.creation_date == 0:
        raise InvalidArgument("Invalid image metadata: Missing creation date")
    return meta


def read_metadata(path: str | Path, comp: Compression | None = None) -> tuple[ImageMetadata, str]:
    """Read metadata.yaml from a metadata or unified tarball; returns it and the image type.

    The type is "container" when the tarball also holds rootfs/, "virtual-machine" for rootfs.img,
    and "unknown" for a split image's metadata tarball (the rootfs file decides).
    """
    comp = comp or detect_compression(path)
    raw: bytes | None = None
    image_type = "unknown"
    try:
        with open_tar_stream(path, comp) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                name = member.name
                if name in METADATA_NAMES and member.isfile():
                    raw = _read_member(tar, member)
                elif name.startswith(("rootfs/", "./rootfs/")) or name in ("rootfs", "./rootfs"):
                    image_type = "container"
                elif name in ("rootfs.img", "./rootfs.img"):
                    image_type = "virtual-machine"
                if raw is not None and image_type != "unknown":
                    break
    except STREAM_ERRORS as e:
        raise InvalidArgument(f"Invalid image tarball: truncated or corrupt {comp.name} tar stream ({e})") from None
    if raw is None:
        raise InvalidArgument("Invalid image tarball: metadata.yaml is missing")
    return parse_metadata(raw), image_type


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if member.size > MAX_METADATA_BYTES:
        raise InvalidArgument(f"Invalid image tarball: metadata.yaml is too large ({member.size} bytes)")
    f = tar.extractfile(member)
    assert f is not None
    data = f.read()
    if len(data) != member.size:
        raise InvalidArgument("Invalid image tarball: truncated metadata.yaml")
    return data


def _scalar(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(f"Invalid image metadata: {key} must be a scalar")
    return value


def _int(doc: dict[str, Any], key: str) -> int:
    text = _scalar(doc, key).strip()
    try:
        return int(text, 0) if text else 0
    except ValueError:
        raise InvalidArgument(f"Invalid image metadata: {key} must be an integer (UNIX time), got {text!r}") from None


def _bool(value: Any, where: str) -> bool:
    text = str(value).strip().lower() if value is not None else ""
    if text in _YAML_TRUE:
        return True
    if text in _YAML_FALSE:
        return False
    raise InvalidArgument(f"Invalid image metadata: {where} must be a boolean, got {value!r}")


def _str_map(value: Any, where: str) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidArgument(f"Invalid image metadata: {where} must map names to strings")
    return dict(value)


def _str_list(value: Any, where: str) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"Invalid image metadata: {where} must be a list of strings")
    return list(value)


def _templates(value: Any) -> dict[str, ImageTemplate]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument("Invalid image metadata: templates must map file paths to templates")
    out = {}
    for path, entry in value.items():
        where = f"templates[{path}]"
        if not isinstance(entry, dict):
            raise InvalidArgument(f"Invalid image metadata: {where} must be a mapping")
        out[path] = ImageTemplate(
            when=_str_list(entry.get("when"), f"{where}.when"),
            create_only=_bool(entry.get("create_only"), f"{where}.create_only"),
            template=_scalar(entry, "template"),
            properties=_str_map(entry.get("properties"), f"{where}.properties"),
            uid=_scalar(entry, "uid"), gid=_scalar(entry, "gid"), mode=_scalar(entry, "mode"),
        )
    return out
