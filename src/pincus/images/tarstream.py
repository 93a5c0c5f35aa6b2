"""A small streaming tar reader and header writer (ustar, GNU long names, pax).

Image unpacking parses every header itself, decides what each member becomes, and hands the
system `tar` a re-written stream of only the accepted members with headers built here: so tar can
only create what this module validated, with names as this module read them. Data bytes are passed
through unchanged, and pax records are kept as raw bytes, so binary xattr values
(security.capability) survive exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

BLOCK = 512
CHUNK = 1 << 20

REGULAR_TYPES = (b"0", b"\0", b"7")
LINK, SYMLINK, CHR, BLK, DIR, FIFO = b"1", b"2", b"3", b"4", b"5", b"6"
# Records carried over to the re-written stream (everything else is dropped).
KEPT_PAX_PREFIXES = ("SCHILY.xattr.",)
KEPT_PAX_KEYS = ("mtime",)


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
    uname: str = ""
    gname: str = ""
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
    if field_bytes[:1] and field_bytes[0] & 0x80:
        # GNU base-256: 0x80 marks positive, 0xff negative (two's complement).
        value = int.from_bytes(field_bytes[1:], "big")
        if field_bytes[0] == 0xFF:
            value -= 1 << (8 * (len(field_bytes) - 1))
        return value
    text = field_bytes.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
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
        data = self._stream.read(n)
        if len(data) != n:
            raise TarFormatError("unexpected end of data (truncated tarball)")
        return data

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
            block = self._stream.read(BLOCK)
            if not block or block == bytes(BLOCK):
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

    def data(self, member: Member) -> Iterator[bytes]:
        """Yield the current member's data in chunks (exactly member.size bytes)."""
        left = member.size if self._unread else 0
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
    name = _cstr(block[0:100])
    if block[257:263] == b"ustar\x00" and block[345:346] != b"\0":
        name = _cstr(block[345:500]) + b"/" + name
    member = Member(
        name=_decode(pax.get("path", long_name if long_name is not None else name)),
        type=block[156:157],
        mode=_number(block[100:108], "mode") & 0o7777,
        uid=_number(block[108:116], "uid"),
        gid=_number(block[116:124], "gid"),
        size=_number(block[124:136], "size"),
        mtime=_number(block[136:148], "mtime"),
        linkname=_decode(pax.get("linkpath", long_link if long_link is not None else _cstr(block[157:257]))),
        uname=_decode(_cstr(block[265:297])),
        gname=_decode(_cstr(block[297:329])),
        devmajor=_number(block[329:337], "devmajor") if block[156:157] in (CHR, BLK) else 0,
        devminor=_number(block[337:345], "devminor") if block[156:157] in (CHR, BLK) else 0,
    )
    for key in ("uid", "gid", "size", "mtime"):
        if key in pax:
            try:
                # mtime may carry a fraction ("1700000000.5"); the raw record is kept for tar.
                setattr(member, key, int(pax[key].split(b".", 1)[0]))
            except ValueError:
                raise TarFormatError(f"bad pax {key} record") from None
    member.sparse = member.type == b"S" or any(k.startswith("GNU.sparse.") for k in pax)
    member.pax = {k: v for k, v in pax.items() if k in KEPT_PAX_KEYS or k.startswith(KEPT_PAX_PREFIXES)}
    return member


def _pax_record(key: str, value: bytes) -> bytes:
    body = b" " + _encode(key) + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length = len(str(length)) + len(body)
    return str(length).encode() + body


def _octal(value: int, width: int) -> bytes | None:
    text = b"%0*o" % (width - 1, value) if value >= 0 else b""
    return text + b"\0" if 0 <= value and len(text) == width - 1 else None


def _ustar(name: bytes, kind: bytes, m: Member, size: int, linkname: bytes = b"") -> bytes:
    fields = [name[:100].ljust(100, b"\0")]
    for value, width in ((m.mode, 8), (m.uid, 8), (m.gid, 8), (size, 12), (m.mtime, 12)):
        fields.append(_octal(value, width) or _octal(0, width) or b"")
    fields += [b" " * 8, kind, linkname[:100].ljust(100, b"\0"), b"ustar\x0000"]
    for text in (m.uname, m.gname):
        raw = _encode(text)
        fields.append(raw.ljust(32, b"\0") if len(raw) <= 32 else bytes(32))
    fields += [_octal(m.devmajor, 8) or bytes(8), _octal(m.devminor, 8) or bytes(8), bytes(167)]
    header = bytearray(b"".join(fields))
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def encode_header(m: Member) -> bytes:
    """Headers (a pax header, then ustar) describing `m` with its current name and link name."""
    records = [_pax_record("path", _encode(m.name))]
    if m.linkname:
        records.append(_pax_record("linkpath", _encode(m.linkname)))
    for key, value, width in (("uid", m.uid, 8), ("gid", m.gid, 8), ("size", m.size, 12)):
        if _octal(value, width) is None:
            records.append(_pax_record(key, str(value).encode()))
    if "mtime" not in m.pax and _octal(m.mtime, 12) is None:
        records.append(_pax_record("mtime", str(m.mtime).encode()))
    records += [_pax_record(k, v) for k, v in m.pax.items()]
    pax = b"".join(records)
    size = m.size if m.is_regular else 0
    return (_ustar(b"PaxHeader", b"x", m, len(pax)) + pax + bytes(_padded(len(pax)) - len(pax))
            + _ustar(_encode(m.name), m.type, m, size, _encode(m.linkname)))


def padding(size: int) -> bytes:
    """Zero bytes that pad `size` bytes of data to a whole block."""
    return bytes(_padded(size) - size)


END_OF_ARCHIVE = bytes(2 * BLOCK)
