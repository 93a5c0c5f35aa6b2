"""The small config.yml reader against PyYAML: same result, or an explicit fallback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pincus.cli import goyaml
from pincus.cli.gotypes import GoMap
from pincus.client import configyaml
from pincus.client.connection import ClientError
from pincus.client.remotes import decode, load

# What the stock incus 6.0.4 client writes on first use (yaml.v2), byte for byte.
INCUS_DEFAULT = """\
default-remote: local
remotes:
  images:
    addr: https://images.linuxcontainers.org
    protocol: simplestreams
    public: true
  local:
    addr: unix://
    protocol: incus
    public: false
aliases: {}
"""

# The stock client after `incus remote add pz https://127.0.0.1:51829 --token ...`.
INCUS_WITH_REMOTE = """\
default-remote: pz
remotes:
  images:
    addr: https://images.linuxcontainers.org
    protocol: simplestreams
    public: true
  local:
    addr: unix://
    protocol: incus
    public: false
  pz:
    addr: https://127.0.0.1:51829
    auth_type: tls
    project: default
    protocol: incus
    public: false
aliases: {}
"""

# Hand-written or older files: no default-remote, sparse entries, aliases with spaces.
SPARSE = """\
remotes:
  backup:
    addr: https://10.0.0.2:8443
  sock:
    addr: unix:///run/other.socket
aliases:
  ll: list -c ns
  snap: snapshot create
"""

# Newer Incus fields (keepalive, credentials_helper), IPv6, quoting yaml.v2 does for ambiguous strings.
NEWER = """\
default-remote: "yes"
remotes:
  "on":
    addr: https://[fd00::1]:8443
    auth_type: oidc
    keepalive: 30
    credentials_helper: /usr/bin/helper --mode=x
    project: "123"
    protocol: incus
    public: false
  "yes":
    addr: unix:///var/lib/incus/unix.socket
    project: 'it''s'
    public: false
aliases:
  "@": "list -c n\\u00e9 \\"q\\""
  empty: ""
"""


def _same(text: str) -> Any:
    """The reader's result, after checking it equals PyYAML's."""
    doc = configyaml.loads(text)
    assert doc == yaml.safe_load(text)
    assert type(doc) is type(yaml.safe_load(text))
    return doc


@pytest.mark.parametrize("text", [INCUS_DEFAULT, INCUS_WITH_REMOTE, SPARSE, NEWER, "", "\n\n"])
def test_realistic_files_match_pyyaml(text: str) -> None:
    _same(text)


def test_values_are_typed_like_pyyaml() -> None:
    doc = _same(NEWER)
    entry = doc["remotes"]["on"]
    assert entry["keepalive"] == 30 and entry["public"] is False and entry["project"] == "123"
    assert doc["aliases"]["@"] == 'list -c né "q"' and doc["aliases"]["empty"] == ""
    assert _same("a:\nb: ~\nc: null\nd: []\ne: 0\nf: On\n") == {
        "a": None, "b": None, "c": None, "d": [], "e": 0, "f": True,
    }  # fmt: skip


@pytest.mark.parametrize(
    "text",
    [
        "a: b # comment\n",
        "# comment\na: b\n",
        "a:\n- x\n",
        "a:\n  - x\n",
        "---\na: b\n",
        "a: 0x1f\n",
        "a: 010\n",
        "a: 1.5\n",
        "a: 2001-12-14\n",
        "a: 1:20\n",
        "a: .inf\n",
        "a: -1\n",
        "a: &x b\nc: *x\n",
        "a: !!str 1\n",
        "a: |\n  text\n",
        "a: >\n  text\n",
        "a: b\n  continued\n",
        "a: 'two\n  lines'\n",
        'a: "two\n  lines"\n',
        'a: "bad \\q escape"\n',
        "a: {b: c}\n",
        "a: [b]\n",
        "a: b \n",
        "a:\tb\n",
        "a: b\r\n",
        "\ufeffa: b\n",
        "a : b\n",
        "<<: {}\n",
        "  a: b\n",
        "a:\n    b: c\n  d: e\n",
        "just a scalar\n",
        "- a\n",
        "? a\n: b\n",
        "a: -c\n",
        "a: b: c\n",
        "a: b:\n",
    ],
)
def test_anything_else_is_left_to_pyyaml(text: str) -> None:
    with pytest.raises(configyaml.Unsupported):
        configyaml.loads(text)


def test_decode_falls_back_to_pyyaml() -> None:
    assert decode("# a comment\ndefault-remote: x # trailing\n") == {"default-remote": "x"}
    assert decode("remotes:\n  r:\n    addr: https://h\n    keepalive: 0x10\n") == {
        "remotes": {"r": {"addr": "https://h", "keepalive": 16}}
    }
    with pytest.raises(ClientError, match="Failed to load configuration"):
        decode("remotes: [unclosed\n")


def test_load_reads_the_stock_default_without_pyyaml(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text(INCUS_WITH_REMOTE)
    code = (
        "import sys; from pincus.client.remotes import load; conf = load(sys.argv[1]);"
        "assert 'yaml' not in sys.modules, 'PyYAML imported';"
        "print(conf.default_remote, conf.remotes['pz'].addr, conf.remotes['pz'].auth_type)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "config.yml")],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert out.stdout.split() == ["pz", "https://127.0.0.1:51829", "tls"]


def test_load_builds_remotes_from_a_fallback_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(
        "# edited by hand\ndefault-remote: sock\nremotes:\n  sock: {addr: 'unix:///run/x.socket'}\n"
    )
    conf = load(str(path))
    assert conf.default_remote == "sock" and conf.connection("sock").path == "/run/x.socket"


# Names and values as `pincus remote add` / `incus remote add` would store them, written by goyaml
# (the same bytes yaml.v2 writes): the reader must take every one of them without falling back.
_NAME = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_.-]{0,11}", fullmatch=True)
_HOST = st.one_of(
    st.ip_addresses().map(str), st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,4}){0,2}", fullmatch=True)
)
_ADDR = st.one_of(
    st.tuples(_HOST, st.integers(1, 65535)).map(
        lambda hp: f"https://{f'[{hp[0]}]' if ':' in hp[0] else hp[0]}:{hp[1]}"
    ),
    st.just("unix://"),
    _NAME.map(lambda n: f"unix:///var/lib/{n}/unix.socket"),
)
_REMOTE = st.fixed_dictionaries(
    {"addr": _ADDR, "public": st.booleans()},
    optional={
        "auth_type": st.sampled_from(["tls", "oidc"]),
        "project": _NAME,
        "protocol": st.sampled_from(["incus", "simplestreams"]),
    },
)
_ALIAS = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=30)


def _config(remotes: dict[str, dict[str, Any]], aliases: dict[str, str], default: str) -> str:
    entries = GoMap(
        {
            name: {k: r[k] for k in ("addr", "auth_type", "project", "protocol", "public") if k in r}
            for name, r in remotes.items()
        }
    )
    return goyaml.dump({"default-remote": default, "remotes": entries, "aliases": GoMap(aliases)})


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_NAME, _REMOTE, max_size=4), _NAME)
def test_every_written_config_is_read_without_fallback(
    remotes: dict[str, dict[str, Any]], default: str
) -> None:
    _same(_config(remotes, {}, default))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_NAME, _ALIAS, max_size=4), st.dictionaries(_ALIAS, _REMOTE, max_size=2))
def test_odd_strings_match_pyyaml_or_fall_back(
    aliases: dict[str, str], remotes: dict[str, dict[str, Any]]
) -> None:
    for text in (
        _config(remotes, aliases, "local"),
        yaml.safe_dump({"aliases": aliases}, allow_unicode=True),
    ):
        try:
            doc = configyaml.loads(text)
        except configyaml.Unsupported:
            continue
        assert doc == yaml.safe_load(text)
