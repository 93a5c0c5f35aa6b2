"""The two daemons of a differential run: a private real incusd and a private pincusd."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from tests.integration.differential.harness import Outcome, Target
from tests.support.incusd import IncusDaemon, incus_available, start_incusd
from tests.support.pincusd import Pincusd, busybox_image, start_pincusd

DRIVER = os.environ.get("PINCUS_DIFF_DRIVER", "dir")


def unavailable() -> str | None:
    """Why a differential run cannot happen here, or None."""
    if not incus_available():
        return "needs root and the real Incus 6.0.4 (incusd, incus)"
    if not shutil.which("lxc-start"):
        return "needs liblxc"
    return None


class IncusTarget(Target):
    """A private real incusd."""

    kind = "incus"

    def __init__(self, daemon: IncusDaemon) -> None:
        self.daemon = daemon
        self.suffix = daemon.suffix
        self.paths = (str(daemon.base_dir),)

    def incus(self, argv: Sequence[str], stdin: str | None) -> Outcome:
        """Run the stock client against the real daemon."""
        p = self.daemon.run(*argv, check=False, timeout=300,
                            input=stdin.encode() if stdin is not None else None)
        return Outcome(p.returncode, p.stdout, p.stderr)


class PincusTarget(Target):
    """A private pincusd."""

    kind = "pincus"

    def __init__(self, daemon: Pincusd, suffix: str) -> None:
        self.daemon = daemon
        self.suffix = suffix
        self.paths = (str(daemon.root),)

    def incus(self, argv: Sequence[str], stdin: str | None) -> Outcome:
        """Run the stock client against pincusd."""
        p = self.daemon.incus(*argv, input=stdin, check=False)
        return Outcome(p.returncode, p.stdout, p.stderr)


def _start_incus() -> IncusTarget:
    # Both daemons end up with one pool called "default" of DRIVER under the default profile.
    daemon = start_incusd(pool="default" if DRIVER == "dir" else "diff-boot")
    try:
        if DRIVER != "dir":
            daemon.create_btrfs_pool("default", size="3GiB")
            daemon.set_root_pool("default")
            daemon.run("storage", "delete", "diff-boot")
            daemon.pools.remove("diff-boot")
        daemon.import_image(*busybox_image(), alias="busybox")
    except BaseException:
        daemon.stop()
        raise
    return IncusTarget(daemon)


def _start_pincus() -> PincusTarget:
    daemon = start_pincusd()
    try:
        daemon.init_pool(DRIVER)
        daemon.import_busybox()
    except BaseException:
        stop_pincus(daemon)
        raise
    return PincusTarget(daemon, secrets.token_hex(3))


def stop_pincus(daemon: Pincusd) -> None:
    """Stop a pincusd and remove its log too."""
    try:
        daemon.stop()
    finally:
        daemon.log.unlink(missing_ok=True)


def side_by_side(a: Callable[[], object], b: Callable[[], object]) -> tuple[object, object]:
    """Run two callables in two threads; return both results."""
    with ThreadPoolExecutor(2) as pool:
        fa, fb = pool.submit(a), pool.submit(b)
        return fa.result(), fb.result()


@contextmanager
def targets() -> Iterator[tuple[IncusTarget, PincusTarget]]:
    """Start both daemons side by side, yield them, stop both whatever happens."""
    with ThreadPoolExecutor(2) as pool:
        fa, fb = pool.submit(_start_incus), pool.submit(_start_pincus)
        errors = [f.exception() for f in (fa, fb)]
    incus = fa.result() if errors[0] is None else None
    pincus = fb.result() if errors[1] is None else None
    try:
        for err in errors:
            if err is not None:
                raise err
        assert incus is not None and pincus is not None
        while pincus.suffix == incus.suffix:
            pincus.suffix = secrets.token_hex(3)
        yield incus, pincus
    finally:
        if incus is not None:
            incus.daemon.stop()
        if pincus is not None:
            stop_pincus(pincus.daemon)
