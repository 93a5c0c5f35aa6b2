"""Remotes from ``~/.config/pincus/config.yml`` (the Incus client config.yml format).

Unix remotes are reached over their socket, ``https://`` remotes through client/tls.py (imported
only then) with the client certificate and the pinned server certificates of the same directory.
"""

from __future__ import annotations

import os

from pincus.client.connection import ClientError, Connection

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Remote:
    """One entry of ``remotes:``."""

    __slots__ = ("name", "addr", "protocol", "public", "auth_type", "project")

    def __init__(
        self,
        name: str,
        addr: str,
        protocol: str = "incus",
        public: bool = False,
        auth_type: str = "",
        project: str = "",
    ) -> None:
        self.name = name
        self.addr = addr
        self.protocol = protocol
        self.public = public
        self.auth_type = auth_type
        self.project = project

    @property
    def is_unix(self) -> bool:
        """True for a local unix-socket remote."""
        return self.addr.startswith("unix:")


def default_remotes() -> dict[str, Remote]:
    """The built-in remotes (``local`` and ``images``)."""
    return {
        "images": Remote("images", "https://images.linuxcontainers.org", "simplestreams", public=True),
        "local": Remote("local", "unix://", "incus"),
    }


def config_dir(env: dict[str, str] | None = None) -> str:
    """Where config.yml lives: $PINCUS_CONF, else ~/.config/pincus."""
    env = dict(os.environ) if env is None else env
    if env.get("PINCUS_CONF"):
        return env["PINCUS_CONF"]
    return os.path.join(os.path.expanduser("~"), ".config", "pincus")


class RemoteConfig:
    """The parsed client configuration."""

    def __init__(
        self,
        default_remote: str = "local",
        remotes: dict[str, Remote] | None = None,
        aliases: dict[str, str] | None = None,
        conf_dir: str = "",
    ) -> None:
        self.default_remote = default_remote
        self.remotes = default_remotes() if remotes is None else remotes
        self.remotes.setdefault("local", Remote("local", "unix://"))
        self.aliases = aliases or {}
        self.conf_dir = conf_dir or config_dir()

    def parse_remote(self, raw: str) -> tuple[str, str]:
        """Split ``REMOTE:NAME`` (an unknown prefix is an error, as in Incus)."""
        if ":" not in raw:
            return self.default_remote, raw
        remote, name = raw.split(":", 1)
        if remote not in self.remotes:
            if "/" in raw and "/" in remote:
                return self.default_remote, raw
            raise ClientError(0, f'The remote "{remote}" doesn\'t exist')
        return remote, name

    def connection(self, name: str, project: str = "") -> Connection:
        """A Connection for remote ``name``."""
        remote = self.remotes.get(name)
        if remote is None:
            raise ClientError(0, f'The remote "{name}" doesn\'t exist')
        if remote.protocol != "incus":
            raise ClientError(
                0, f'The remote "{name}" is not an instance server (protocol {remote.protocol})'
            )
        project = project or (remote.project if remote.project != "default" else "")
        if remote.addr.startswith("https://"):
            from pincus.client.tls import TlsConnection

            return TlsConnection(remote.addr, self.conf_dir, name, project)
        if not remote.is_unix:
            raise ClientError(0, f'Unsupported remote address "{remote.addr}" (remote "{name}")')
        path = remote.addr[len("unix:") :].removeprefix("//")
        return Connection(path or None, project)


def parse_config(doc: Any, conf_dir: str = "") -> RemoteConfig:
    """Build a RemoteConfig from a decoded config.yml document."""
    if not isinstance(doc, dict):
        return RemoteConfig(conf_dir=conf_dir)
    remotes = default_remotes()
    for name, entry in (doc.get("remotes") or {}).items():
        if not isinstance(entry, dict):
            continue
        remotes[str(name)] = Remote(
            str(name),
            str(entry.get("addr", "")),
            str(entry.get("protocol") or "incus"),
            bool(entry.get("public", False)),
            str(entry.get("auth_type") or ""),
            str(entry.get("project") or ""),
        )
    aliases = {str(k): str(v) for k, v in (doc.get("aliases") or {}).items()}
    return RemoteConfig(str(doc.get("default-remote") or "local"), remotes, aliases, conf_dir)


def load(path: str | None = None) -> RemoteConfig:
    """Read config.yml if it exists, else the defaults."""
    path = path or os.path.join(config_dir(), "config.yml")
    conf_dir = os.path.dirname(path)
    try:
        with open(path, encoding="utf-8") as fobj:
            text = fobj.read()
    except FileNotFoundError:
        return RemoteConfig(conf_dir=conf_dir)
    return parse_config(decode(text), conf_dir)


def decode(text: str) -> Any:
    """Decode config.yml: the small reader for what the clients write, PyYAML for anything else."""
    from pincus.client import configyaml

    try:
        return configyaml.loads(text)
    except ValueError:  # configyaml.Unsupported, or a bad escape PyYAML will report
        pass
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ClientError(0, f"Failed to load configuration: {exc}") from None
