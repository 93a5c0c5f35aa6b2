"""Go string helpers: unicode.IsSpace and %q, for error texts that match Incus byte for byte."""

from __future__ import annotations

# Go's unicode.IsSpace; Python's str.isspace() also counts U+001C..U+001F.
GO_SPACES = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)


def go_quote(value: str) -> str:
    """A string quoted the way Go's %q prints it (enough for names and single characters)."""
    out = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\x00":
            out.append("\\x00")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
