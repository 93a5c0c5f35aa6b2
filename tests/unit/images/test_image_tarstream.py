from __future__ import annotations

import io
import os
import tarfile

import pytest

from pincus.images.tarstream import (
    END_OF_ARCHIVE,
    Member,
    TarFormatError,
    TarReader,
    encode_header,
    padding,
    parse_pax,
)
from tests.unit.images._imgtar import basic_rootfs, member, tar_bytes


def _read_all(raw: bytes) -> list[tuple[Member, bytes]]:
    reader = TarReader(io.BytesIO(raw))
    return [(m, b"".join(reader.data(m))) for m in reader]


def _rewrite(raw: bytes) -> bytes:
    out = io.BytesIO()
    reader = TarReader(io.BytesIO(raw))
    for m in reader:
        out.write(encode_header(m))
        if m.is_regular:
            data = b"".join(reader.data(m))
            out.write(data + padding(len(data)))
    out.write(END_OF_ARCHIVE)
    return out.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_reads_what_tarfile_writes(fmt: int) -> None:
    entries = [*basic_rootfs(), member("rootfs/" + "x" * 90 + "/" + "y" * 60, b"long")]
    members = _read_all(tar_bytes(entries, fmt))
    assert [m.name.rstrip("/") for m, _ in members] == [info.name for info, _ in entries]
    by_name = {m.name: (m, data) for m, data in members}
    assert by_name["rootfs/bin/busybox"][1] == b"#!/bin/sh\necho hi\n"
    assert by_name["rootfs/bin/busybox"][0].mode == 0o755
    assert by_name["rootfs/bin/ash"][0].linkname == "rootfs/bin/busybox"
    null = by_name["rootfs/dev/null"][0]
    assert (null.type, null.devmajor, null.devminor) == (b"3", 1, 3)


def test_large_numbers_and_binary_pax_values_round_trip() -> None:
    big = member("f", b"z", uid=3_000_000_000, gid=2_200_000, mtime=99_999_999_999)
    big[0].pax_headers = {"SCHILY.xattr.user.k": "v", "comment": "dropped"}
    raw = _rewrite(tar_bytes([big], tarfile.GNU_FORMAT))
    [(m, data)] = _read_all(raw)
    assert (m.uid, m.gid, m.mtime, data) == (3_000_000_000, 2_200_000, 99_999_999_999, b"z")
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        info = tar.getmembers()[0]
    assert (info.uid, info.mtime) == (3_000_000_000, 99_999_999_999)

    m = Member(name="cap", type=b"0", pax={"SCHILY.xattr.security.capability": b"\x01\x00\x00\x02\xff\n="})
    header = encode_header(m)
    [(again, _)] = _read_all(header + END_OF_ARCHIVE)
    assert again.pax == m.pax


def test_pax_record_lengths_are_self_consistent() -> None:
    for n in range(0, 1200, 7):
        m = Member(name="a" * n or "a", type=b"0")
        [(again, _)] = _read_all(encode_header(m) + END_OF_ARCHIVE)
        assert again.name == m.name


def test_bad_pax_record() -> None:
    with pytest.raises(TarFormatError):
        parse_pax(b"99 path=x\n")
    assert parse_pax(b"11 path=ab\n") == {"path": b"ab"}


def test_truncated_header_and_data() -> None:
    raw = tar_bytes([member("f", b"x" * 5000)])
    with pytest.raises(TarFormatError, match="truncated"):
        _read_all(raw[:700])
    with pytest.raises(TarFormatError, match="truncated"):
        _read_all(raw[:300])


def test_end_of_archive_without_trailer() -> None:
    raw = tar_bytes([member("f", b"x")])
    assert [m.name for m, _ in _read_all(raw[:1024])] == ["f"]


@pytest.mark.parametrize("name", ["short", "d" * 90 + "/" + "f" * 60, "p" * 150 + "/" + "n" * 99, "x" * 150,
                                  "a/" * 200 + "z", os.fsdecode(b"caf\xe9/na\xefve")])
def test_encoded_names_read_back_by_tarfile_and_by_us(name: str) -> None:
    m = Member(name=name, type=b"0", size=3, linkname="")
    raw = encode_header(m) + b"abc" + padding(3) + END_OF_ARCHIVE
    [(again, data)] = _read_all(raw)
    assert (again.name, data) == (name, b"abc")
    with tarfile.open(fileobj=io.BytesIO(raw), encoding="utf-8", errors="surrogateescape") as tar:
        assert tar.getnames() == [name]


def test_long_link_names() -> None:
    m = Member(name="l", type=b"2", linkname="t" * 101)
    [(again, _)] = _read_all(encode_header(m) + END_OF_ARCHIVE)
    assert again.linkname == "t" * 101
