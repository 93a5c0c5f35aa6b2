"""pincusd: the daemon. State in $PINCUS_DIR (default /var/lib/pincus); API on unix.socket."""

from __future__ import annotations

import argparse
import asyncio
import grp
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from aiohttp import web

from pincus.api.app import build_app
from pincus.api.certificates import start_network, stop_network
from pincus.core.recovery import recover
from pincus.core.services import Services
from pincus.core.state import Paths, State
from pincus.db.records import ProfileRecord
from pincus.db.store import Store
from pincus.replication import Replication
from pincus.scheduler import Scheduler
from pincus.startup import AlreadyRunning, DaemonLock, secure_database, secure_directories, secure_pools

log = logging.getLogger("pincusd")
DEFAULT_DIR = "/var/lib/pincus"


def _socket_alive(path: Path) -> bool:
    if not path.exists():
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def build_state(root: Path) -> State:
    """Open the database and the runtime under root."""
    from pincus.runtime.lxc import LxcRuntime

    paths = Paths(root)
    secure_directories(paths)
    store = Store(paths.database)
    secure_database(paths.database)  # the WAL/SHM files a database of an older pincusd left 0644
    return State(paths=paths, store=store, runtime=LxcRuntime(paths.lxc))


async def serve(root: Path, group: str) -> None:
    """Start everything, serve until SIGTERM/SIGINT, then stop serving (containers keep running)."""
    paths = Paths(root)
    lock = DaemonLock(root)
    try:
        lock.acquire()  # before the socket, the database or a pool is touched
    except AlreadyRunning as exc:
        raise SystemExit(f"Error: {exc}") from None
    if _socket_alive(paths.socket):  # a daemon of an older pincus, which took no lock
        raise SystemExit(f"pincusd is already running on {paths.socket}")
    st = build_state(root)
    if not st.store.profiles():
        st.store.create_profile(ProfileRecord(name="default", description="Default Incus profile"))
    services = Services.build(st)
    services.pools.load_all()
    secure_pools(paths)
    await recover(services)
    for line in services.pools.clean_all() + services.images.clean_leftovers():
        log.warning("storage recovery: %s", line)
    replication = Replication(services)
    app = build_app(services, replication)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    paths.socket.unlink(missing_ok=True)
    site = web.UnixSite(runner, str(paths.socket))
    await site.start()
    gid = grp.getgrnam(group).gr_gid if group else 0
    os.chown(paths.socket, 0, gid)
    os.chmod(paths.socket, 0o660)
    await start_network(app, services, runner)
    scheduler = Scheduler(services, state_file=paths.root / "scheduler.last")
    services.snapshots.on_expiry_change = scheduler.poke
    scheduler.on_minute.append(replication.tick)
    scheduler.after_snapshot.append(replication.after_snapshot)
    timer = asyncio.get_running_loop().create_task(scheduler.run())
    log.info("pincusd ready on %s", paths.socket)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("pincusd stopping")
    timer.cancel()
    await stop_network(app)
    await st.ops.drain(10.0)
    await runner.cleanup()
    paths.socket.unlink(missing_ok=True)
    st.store.close()
    st.executor.shutdown(wait=False, cancel_futures=True)
    lock.release()


def main(argv: list[str] | None = None) -> None:
    """Entry point of pincusd."""
    parser = argparse.ArgumentParser(prog="pincusd", description="pincus daemon (Incus REST API)")
    parser.add_argument("--group", default="", help="group that may use the unix socket (default: root only)")
    parser.add_argument("--debug", action="store_true", help="debug logging")
    parser.add_argument("--verbose", "-v", action="store_true", help="informational logging")
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if os.geteuid() != 0:
        raise SystemExit("pincusd must run as root")
    root = Path(os.environ.get("PINCUS_DIR") or DEFAULT_DIR)
    asyncio.run(serve(root, args.group))


if __name__ == "__main__":
    main()
