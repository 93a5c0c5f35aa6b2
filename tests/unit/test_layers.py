"""The layering of DESIGN.md, checked on the source: layers import downwards only.

cli -> client -> api -> core -> storage | runtime | network | images | db, with migration/,
scheduler/ and replication/ beside core, and base/ the floor that imports nothing else of pincus.
Every module under src/pincus is parsed with ``ast``; all its pincus imports count, also those
inside functions and TYPE_CHECKING blocks (a lazy import is still a dependency). Run by ``make lint``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "pincus"

# Everything the daemon wires together; nothing below core may reach up into it.
_ABOVE_CORE = {"core", "api", "cli", "client", "scheduler", "replication", "migration", "daemon", "startup"}

# layer -> the layers it must not import (a layer is the first name under pincus/).
FORBIDDEN: dict[str, set[str]] = {
    "storage": _ABOVE_CORE,
    "runtime": _ABOVE_CORE,
    "network": _ABOVE_CORE,
    "images": _ABOVE_CORE,
    "db": _ABOVE_CORE,
    "core": {"api", "cli", "client", "scheduler", "replication", "daemon", "startup"},
    "api": {"cli", "client", "daemon", "startup"},
    # Beside core and using it (DESIGN.md); the API calls into it, never the other way.
    "migration": {"api", "cli", "client", "scheduler", "replication", "daemon", "startup"},
    # The timer and replication sit beside core too; pincusd wires them (daemon.py), the timer runs
    # replication through hooks, and replication is a client of the remote server.
    "scheduler": {"api", "cli", "client", "replication", "daemon", "startup"},
    "replication": {"api", "cli", "scheduler", "daemon", "startup"},
    # The client speaks HTTP to the daemon; it shares no code with the daemon side but base/.
    "client": {"core", "api", "cli", "db", "storage", "runtime", "network", "images", "migration",
               "scheduler", "replication", "daemon", "startup"},
    "cli": {"core", "api", "db", "storage", "runtime", "network", "migration", "scheduler", "replication",
            "daemon", "startup"},
}

# Wrong-way imports that exist today, each with its reason. A NEW wrong-way import fails the test;
# an entry that is no longer needed fails it too, so this set only shrinks.
ALLOWED: set[tuple[str, str]] = {
    # `pincus prune --dry-run` builds its plan on the client side with the daemon's own retention
    # rules (one implementation, so the preview matches what the daemon deletes). Moving the pure
    # retention/pattern rules out of core is a separate step.
    ("pincus.cli.prune", "pincus.core.prune"),
    ("pincus.cli.prune", "pincus.core.retention"),
}


def module_name(path: Path) -> str:
    """The dotted module name of a file under src/."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def pincus_imports(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every pincus module a source imports, anywhere in it (functions, TYPE_CHECKING blocks)."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pincus.core import names` imports pincus.core.names (or a name of pincus.core:
            # both are in the core layer, which is all that counts here).
            found.update(f"{base}.{alias.name}" if base == "pincus" else base for alias in node.names)
    return {name for name in found if name == "pincus" or name.startswith("pincus.")}


def layer(module: str) -> str:
    """The layer of a pincus module: ``pincus.core.names`` -> ``core``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _all_imports() -> dict[str, set[str]]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        out[name] = pincus_imports(path.read_text(), name, path.name == "__init__.py")
    return out


def _wrong_way(imports: dict[str, set[str]]) -> set[tuple[str, str]]:
    wrong = set()
    for importer, targets in imports.items():
        here = layer(importer)
        for target in targets:
            there = layer(target)
            if here == "base" and there != "base":
                wrong.add((importer, target))
            elif there in FORBIDDEN.get(here, set()):
                wrong.add((importer, target))
    return wrong


def test_layers_point_down() -> None:
    wrong = _wrong_way(_all_imports())
    new = sorted(wrong - ALLOWED)
    assert not new, "wrong-way imports (see DESIGN.md, Architecture):\n" + "\n".join(f"  {a} -> {b}" for a, b in new)


def test_allowed_entries_are_still_needed() -> None:
    stale = sorted(ALLOWED - _wrong_way(_all_imports()))
    assert not stale, f"remove these from ALLOWED, they are fixed: {stale}"


def test_every_layer_has_a_rule() -> None:
    layers = {layer(name) for name in _all_imports()} - {"", "base", "daemon", "startup"}
    assert layers <= set(FORBIDDEN), f"no layering rule for {sorted(layers - set(FORBIDDEN))}"


_SAMPLE = """
from __future__ import annotations
import os
import pincus.db.store
from pincus.base.errors import NotFound
from pincus import core
from . import sibling
from ..client import connection
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pincus.api.server import App

def later():
    from pincus.cli.common import Ctx
"""


@pytest.mark.parametrize(
    "expected",
    ["pincus.db.store", "pincus.base.errors", "pincus.core", "pincus.storage", "pincus.client",
     "pincus.api.server", "pincus.cli.common"],
)
def test_collector_sees_every_kind_of_import(expected: str) -> None:
    found = pincus_imports(_SAMPLE, "pincus.storage.drivers")
    assert expected in found
    assert "os" not in found and "__future__" not in found


def test_rule_catches_an_upward_import() -> None:
    wrong = _wrong_way({"pincus.storage.x": {"pincus.core.names"}, "pincus.base.y": {"pincus.db.store"},
                        "pincus.api.z": {"pincus.core.names"}, "pincus.base.w": {"pincus.base.errors"}})
    assert wrong == {("pincus.storage.x", "pincus.core.names"), ("pincus.base.y", "pincus.db.store")}


def test_rule_keeps_core_below_the_timer_and_replication() -> None:
    wrong = _wrong_way({"pincus.core.services": {"pincus.replication.service"},
                        "pincus.core.recovery": {"pincus.scheduler.timer"},
                        "pincus.db.store": {"pincus.scheduler"},
                        "pincus.scheduler.timer": {"pincus.core.services", "pincus.replication"},
                        "pincus.replication.service": {"pincus.client.tls", "pincus.migration.dial"}})
    assert wrong == {("pincus.core.services", "pincus.replication.service"),
                     ("pincus.core.recovery", "pincus.scheduler.timer"),
                     ("pincus.db.store", "pincus.scheduler"),
                     ("pincus.scheduler.timer", "pincus.replication")}
