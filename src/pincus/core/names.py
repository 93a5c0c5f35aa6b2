"""Names of instances, snapshots, profiles and pools, validated with Incus 6.0's rules and messages.

An instance name is a hostname (``validate.IsHostname``). A snapshot is addressed as
``<instance>/<snapshot>``: ``snapshot_name`` is always the bare name, ``full_name`` the pair.

Where pincus is stricter than Incus 6.0 it is on purpose, because names become path components:
a snapshot name may not be empty, ``.``, ``..``, or contain NUL or any white space (6.0 refuses only
the space; later Incus refuses all white space), and an all-digit instance name is refused whatever
its length (Incus only refuses those that fit in a uint64).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

from pincus.base.errors import InvalidArgument
from pincus.base.gostr import GO_SPACES, go_quote

SNAPSHOT_DELIMITER = "/"

_HOSTNAME_CHARS = re.compile(r"[-a-zA-Z0-9]+")
_URL_RESERVED = ("/", "?", "&", "+", "\x00")

_ADJECTIVES = (
    "able", "amber", "bold", "brave", "bright", "calm", "clever", "cool", "crisp", "eager",
    "fair", "fast", "fine", "free", "fresh", "gentle", "glad", "golden", "grand", "happy",
    "keen", "kind", "light", "lively", "lucky", "merry", "mighty", "neat", "noble", "proud",
    "quick", "quiet", "rapid", "sharp", "shy", "smart", "steady", "sunny", "swift", "witty",
)
_NOUNS = (
    "badger", "beaver", "bison", "camel", "cobra", "condor", "crane", "dingo", "eagle", "falcon",
    "ferret", "gecko", "heron", "ibex", "jackal", "koala", "lemur", "lynx", "marmot", "moose",
    "newt", "ocelot", "otter", "panda", "pelican", "puffin", "quail", "raven", "salmon", "seal",
    "shrew", "stork", "tapir", "tiger", "toucan", "turtle", "viper", "walrus", "wombat", "zebra",
)


def hostname_error(name: str) -> str | None:
    """Why ``name`` is not a valid hostname (validate.IsHostname), or None if it is."""
    # Go measures the length in bytes.
    if not 1 <= len(name.encode()) <= 63:
        return "Name must be 1-63 characters long"
    if name.startswith("-"):
        return 'Name must not start with "-" character'
    if name.endswith("-"):
        return 'Name must not end with "-" character'
    if name.isascii() and name.isdigit():
        return "Name cannot be a number"
    if not _HOSTNAME_CHARS.fullmatch(name):
        return "Name can only contain alphanumeric and hyphen characters"
    return None


def validate_instance_name(name: str) -> None:
    """Raise InvalidArgument unless ``name`` is a valid instance name (ValidName, not a snapshot)."""
    if SNAPSHOT_DELIMITER in name:
        raise InvalidArgument(f"The character {go_quote(SNAPSHOT_DELIMITER)} is reserved for snapshots")
    err = hostname_error(name)
    if err:
        raise InvalidArgument(f"Invalid instance name: {err}")


def validate_snapshot_name(name: str) -> None:
    """Raise InvalidArgument unless ``name`` is a valid bare snapshot name.

    Incus checks a requested name with ``IsURLSegmentSafe`` (no ``/ ? & +``) and later, when the
    record is made, refuses spaces; both messages are kept.
    """
    if not name:
        raise InvalidArgument("Invalid snapshot name: Cannot be empty")
    for char in _URL_RESERVED:
        if char in name:
            raise InvalidArgument(f"Invalid snapshot name: Cannot contain {go_quote(char)}")
    if name in (".", ".."):
        raise InvalidArgument('Invalid snapshot name: Cannot be "." or ".."')
    if " " in name:
        raise InvalidArgument("Invalid instance snapshot name: Cannot contain space or / characters")
    if any(ch in GO_SPACES for ch in name):
        raise InvalidArgument("Invalid snapshot name: Name cannot contain white space")


def validate_name(name: str, is_snapshot: bool = False) -> None:
    """Validate an instance name, or an ``instance/snapshot`` full name when ``is_snapshot``."""
    if not is_snapshot:
        validate_instance_name(name)
        return
    parent, snap = split_snapshot_name(name)
    err = hostname_error(parent)
    if err:
        raise InvalidArgument(f"Invalid instance name: {err}")
    validate_snapshot_name(snap)


def split_snapshot_name(name: str) -> tuple[str, str]:
    """Split ``"c1/snap0"`` into ``("c1", "snap0")``; a name without ``/`` gives ``(name, "")``."""
    parent, sep, snap = name.partition(SNAPSHOT_DELIMITER)
    return (parent, snap) if sep else (name, "")


def is_snapshot_name(name: str) -> bool:
    """Whether ``name`` is an ``instance/snapshot`` full name."""
    return SNAPSHOT_DELIMITER in name


def full_name(instance: str, snapshot: str) -> str:
    """The full name ``instance/snapshot``."""
    return f"{instance}{SNAPSHOT_DELIMITER}{snapshot}"


def validate_profile_name(name: str) -> None:
    """Raise InvalidArgument unless ``name`` is a valid profile name (profilesPost rules)."""
    if not name:
        raise InvalidArgument("No name provided")
    if "/" in name:
        raise InvalidArgument("Profile names may not contain slashes")
    if name in (".", ".."):
        raise InvalidArgument(f"Invalid profile name {go_quote(name)}")


def validate_pool_name(name: str) -> None:
    """Raise InvalidArgument unless ``name`` is a valid storage pool name."""
    if not name:
        raise InvalidArgument("No name provided")
    if "/" in name:
        raise InvalidArgument("Storage pool names may not contain slashes")
    if any(ch in GO_SPACES for ch in name):
        raise InvalidArgument("Storage name cannot contain white space")
    if name in (".", ".."):
        raise InvalidArgument(f"Invalid storage pool name {go_quote(name)}")


def random_instance_name(existing: Iterable[str] = (), rng: random.Random | None = None) -> str:
    """A free two-word name like ``swift-otter``, as Incus picks for an unnamed instance."""
    pick = rng or random.Random()
    taken = set(existing)
    for attempt in range(10_000):
        name = f"{pick.choice(_ADJECTIVES)}-{pick.choice(_NOUNS)}"
        if attempt >= 100:
            name = f"{name}-{attempt}"
        if name not in taken:
            return name
    raise InvalidArgument("Could not find a free instance name")
