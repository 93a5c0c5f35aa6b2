"""``pincus admin waitready --timeout N`` gives up after N seconds, even when the socket accepts
connections and never answers (a wedged daemon, or something else listening on the path)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

PINCUS = Path(sys.executable).parent / "pincus"


@pytest.fixture
def mute_socket(tmp_path: Path) -> Iterator[Path]:
    """A unix.socket that accepts every connection, reads what it is sent and never answers."""
    path = tmp_path / "unix.socket"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def test_waitready_gives_up_on_a_socket_that_never_answers(mute_socket: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INCUS_", "PINCUS_"))}
    env.update(PINCUS_DIR=str(mute_socket.parent), PINCUS_CONF=str(tmp_path / "conf"))
    # The generous subprocess timeout only keeps a regression from hanging the suite.
    proc = subprocess.run([str(PINCUS), "admin", "waitready", "--timeout", "1"], env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode != 0
    assert proc.stderr.startswith("Error: Daemon still not running after 1s timeout (")
    assert "timed out" in proc.stderr.lower()
