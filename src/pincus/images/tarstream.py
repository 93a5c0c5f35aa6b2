"""A small streaming tar reader and header writer (ustar, GNU long names, pax).

Image unpacking parses every header itself, decides what each member becomes, and hands the
system `tar` a re-written stream of only the accepted members with headers built here: so tar can
only create what this module validated, with names as this module read them. Data bytes are passed
through unchanged, and pax records are kept as raw bytes, so binary xattr values
(security.capability) survive exactly.
"""

from __future__ import annotations

import lzma
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

BLOCK = 512
CHUNK = 1 << 20
# name mode uid gid size mtime chksum typeflag linkname magic+version uname gname devmajor devminor prefix
_USTAR = struct.Struct("100s8s8s8s12s12s8sc100s8s32s32s8s8s155s12x")
_ZERO_BLOCK = bytes(BLOCK)
_MAX_ID = 0o7777777
_MAX_BIG = 0o77777777777

REGULAR_TYPES = (b"0", b"\0", b"7")
LINK, SYMLINK, CHR, BLK, DIR, FIFO = b"1", b"2", b"3", b"4", b"5", b"6"
# Records carried over to the re-written stream; everything else is dropped (atime, ctime, comments,
# and the sub-second part of mtime: whole seconds are kept, which spares most members a pax header).
KEPT_PAX_PREFIXES = ("SCHILY.xattr.",)


# What a decompressing reader raises on damaged input (bz2 and gzip raise OSError subclasses).
READ_ERRORS = (EOFError, lzma.LZMAError, zlib.error, OSError)


class TarFormatError(Exception):
    """The stream is not a well-formed tar archive (bad header, truncated data)."""


@dataclass
class Member:
    """One archive member as read from its headers."""

    name: str
    type: bytes
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    size: int = 0
    mtime: int = 0
    linkname: str = ""
    uname: bytes = b""  # raw: with --numeric-owner nothing downstream reads them
    gname: bytes = b""
    devmajor: int = 0
    devminor: int = 0
    pax: dict[str, bytes] = field(default_factory=dict)
    sparse: bool = False

    @property
    def is_regular(self) -> bool:
        """A regular file (including the obsolete contiguous type)."""
        return self.type in REGULAR_TYPES


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _number(field_bytes: bytes, what: str) -> int:
    if field_bytes[0] & 0x80:
        # GNU base-256: 0x80 marks positive, 0xff negative (two's complement).
        value = int.from_bytes(field_bytes[1:], "big")
        if field_bytes[0] == 0xFF:
            value -= 1 << (8 * (len(field_bytes) - 1))
        return value
    text = field_bytes.partition(b"\0")[0]
    try:
        return int(text, 8)
    except ValueError:
        if not text.strip():
            return 0
        raise TarFormatError(f"bad {what} field {text!r} in tar header") from None


def _cstr(raw: bytes) -> bytes:
    return raw.split(b"\0", 1)[0]


def parse_pax(data: bytes) -> dict[str, bytes]:
    """Parse pax extended header records ("LEN KEY=VALUE\\n") into raw values."""
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise TarFormatError("bad pax extended header record") from None
        record = data[space + 1 : pos + length]
        if space < 0 or length <= 0 or pos + length > len(data) or not record.endswith(b"\n") or b"=" not in record:
            raise TarFormatError("bad pax extended header record")
        key, _, value = record[:-1].partition(b"=")
        records[_decode(key)] = value
        pos += length
    return records


class TarReader:
    """Iterate over a tar stream's members; read each member's data before asking for the next."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._unread = 0  # data + padding bytes of the current member still in the stream

    def _read(self, n: int) -> bytes:
        data = self._read_some(n)
        if len(data) != n:
            raise TarFormatError("unexpected end of data (truncated tarball)")
        return data

    def _read_some(self, n: int) -> bytes:
        try:
            return self._stream.read(n)
        except READ_ERRORS as e:
            raise TarFormatError(f"corrupt compressed stream: {e}") from None

    def _skip(self, n: int) -> None:
        while n:
            n -= len(self._read(min(n, CHUNK)))

    def __iter__(self) -> Iterator[Member]:
        while (member := self.next()) is not None:
            yield member

    def next(self) -> Member | None:
        """The next member, or None at the end of the archive."""
        self._skip(self._unread)
        self._unread = 0
        long_name = long_link = None
        pax: dict[str, bytes] = {}
        while True:
            block = self._read_some(BLOCK)
            if not block or block == _ZERO_BLOCK:
                return None  # end of archive (GNU tar also accepts a missing trailer)
            if len(block) != BLOCK:
                raise TarFormatError("unexpected end of data (truncated tarball)")
            _check_sum(block)
            kind = block[156:157]
            size = _number(block[124:136], "size")
            if kind in (b"L", b"K", b"x", b"g"):
                payload = self._read(_padded(size))[:size]
                if kind == b"L":
                    long_name = _cstr(payload)
                elif kind == b"K":
                    long_link = _cstr(payload)
                elif kind == b"x":
                    pax.update(parse_pax(payload))
                continue  # global headers ("g") are dropped: nothing downstream sees them
            member = _member(block, long_name, long_link, pax)
            self._unread = _padded(member.size) if member.type not in (LINK, SYMLINK, DIR, CHR, BLK, FIFO) else 0
            return member

    def data(self, member: Member, padded: bool = False) -> Iterator[bytes]:
        """Yield the current member's data in chunks: member.size bytes, or whole blocks if padded."""
        left = member.size if self._unread else 0
        if padded:
            left = self._unread
        while left:
            chunk = self._read(min(left, CHUNK))
            left -= len(chunk)
            self._unread -= len(chunk)
            yield chunk
        self._skip(self._unread)
        self._unread = 0


def _padded(size: int) -> int:
    return (size + BLOCK - 1) // BLOCK * BLOCK


def _check_sum(block: bytes) -> None:
    stored = _number(block[148:156], "checksum")
    unsigned = sum(block) - sum(block[148:156]) + 8 * 32
    if stored == unsigned:
        return
    # Some old archivers summed signed chars.
    signed = unsigned - 256 * sum(1 for b in block[:148] + block[156:] if b > 127)
    if stored != signed:
        raise TarFormatError("bad tar header checksum (corrupt or not a tarball)")


def _member(block: bytes, long_name: bytes | None, long_link: bytes | None, pax: dict[str, bytes]) -> Member:
    (name, mode, uid, gid, size, mtime, _sum, kind, linkname, magic, uname, gname, major, minor,
     prefix) = _USTAR.unpack(block)
    name = _cstr(name)
    if magic == b"ustar\x0000" and prefix[:1] != b"\0":
        name = _cstr(prefix) + b"/" + name
    device = kind in (CHR, BLK)
    member = Member(
        name=_decode(pax.get("path", long_name if long_name is not None else name)),
        type=kind,
        mode=_number(mode, "mode") & 0o7777,
        uid=_number(uid, "uid"),
        gid=_number(gid, "gid"),
        size=_number(size, "size"),
        mtime=_number(mtime, "mtime"),
        linkname=_decode(pax.get("linkpath", long_link if long_link is not None else _cstr(linkname))),
        uname=_cstr(uname),
        gname=_cstr(gname),
        devmajor=_number(major, "devmajor") if device else 0,
        devminor=_number(minor, "devminor") if device else 0,
    )
    if pax:
        _apply_pax(member, pax)
    return member


def _apply_pax(member: Member, pax: dict[str, bytes]) -> None:
    for key in ("uid", "gid", "size", "mtime"):
        if key in pax:
            try:
                # mtime may carry a fraction ("1700000000.5"): whole seconds are kept.
                setattr(member, key, int(pax[key].split(b".", 1)[0]))
            except ValueError:
                raise TarFormatError(f"bad pax {key} record") from None
    member.sparse = member.type == b"S" or any(k.startswith("GNU.sparse.") for k in pax)
    member.pax = {k: v for k, v in pax.items() if k.startswith(KEPT_PAX_PREFIXES)}


def _pax_record(key: str, value: bytes) -> bytes:
    body = b" " + _encode(key) + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length = len(str(length)) + len(body)
    return str(length).encode() + body


def _split_name(name: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) fitting the ustar fields, or None when a pax path record is needed."""
    if len(name) <= 100:
        return b"", name
    cut = name.find(b"/", max(0, len(name) - 101))
    if 0 < cut <= 155 and 0 < len(name) - cut - 1 <= 100:
        return name[:cut], name[cut + 1 :]
    return None


def _ustar(name: bytes, kind: bytes, m: Member, size: int, linkname: bytes = b"", prefix: bytes = b"") -> bytes:
    """One ustar header block; numbers that do not fit were moved to pax records and read 0 here."""
    uid, gid, mtime = (v if 0 <= v <= limit else 0 for v, limit in
                       ((m.uid, _MAX_ID), (m.gid, _MAX_ID), (m.mtime, _MAX_BIG)))
    header = bytearray(_USTAR.pack(
        name, b"%07o" % m.mode, b"%07o" % uid, b"%07o" % gid, b"%011o" % (size if size <= _MAX_BIG else 0),
        b"%011o" % mtime, b" " * 8, kind, linkname, b"ustar\x0000", m.uname, m.gname,
        b"%07o" % m.devmajor, b"%07o" % m.devminor, prefix,
    ))
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def encode_header(m: Member) -> bytes:
    """Headers describing `m` with its current name and link name: ustar, preceded by a pax
    header only when something does not fit ustar (long names, big numbers, xattrs)."""
    name, linkname = _encode(m.name), _encode(m.linkname)
    size = m.size if m.is_regular else 0
    split = _split_name(name)
    records = [] if split else [_pax_record("path", name)]
    if len(linkname) > 100:
        records.append(_pax_record("linkpath", linkname))
    for key, value, limit in (("uid", m.uid, _MAX_ID), ("gid", m.gid, _MAX_ID), ("size", size, _MAX_BIG)):
        if not 0 <= value <= limit:
            records.append(_pax_record(key, str(value).encode()))
    if not 0 <= m.mtime <= _MAX_BIG:
        records.append(_pax_record("mtime", str(m.mtime).encode()))
    records += [_pax_record(k, v) for k, v in m.pax.items()]
    prefix, short = split or (b"", name[:100])
    header = _ustar(short, m.type, m, size, linkname[:100], prefix)
    if not records:
        return header
    pax = b"".join(records)
    return _ustar(b"PaxHeader", b"x", m, len(pax)) + pax + padding(len(pax)) + header


def padding(size: int) -> bytes:
    """Zero bytes that pad `size` bytes of data to a whole block."""
    return bytes(_padded(size) - size)


END_OF_ARCHIVE = bytes(2 * BLOCK)
