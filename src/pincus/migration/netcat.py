"""The remote shell rsync runs on the sending side: it joins rsync's stdin/stdout to a unix socket
the daemon listens on (what ``incusd netcat`` does for Incus). Run as a script, stdlib only:
``python3 -I -S netcat.py SOCKET``; rsync appends the remote command, which is ignored."""

import os
import select
import socket
import sys


def relay(sock: socket.socket, fd_in: int, fd_out: int) -> None:
    """Copy fd_in -> sock and sock -> fd_out until both directions ended."""
    open_in, open_sock = True, True
    while open_in or open_sock:
        wanted = ([fd_in] if open_in else []) + ([sock.fileno()] if open_sock else [])
        ready, _, _ = select.select(wanted, [], [])
        if fd_in in ready:
            data = os.read(fd_in, 1 << 16)
            if data:
                sock.sendall(data)
            else:
                sock.shutdown(socket.SHUT_WR)
                open_in = False
        if sock.fileno() in ready:
            data = sock.recv(1 << 16)
            if data:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd_out, view):]
            else:
                open_sock = False
                if open_in:
                    return  # the peer is gone: rsync sees the end and reports it


def main() -> int:
    """Connect to the socket named on the command line and relay."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(sys.argv[1])
    relay(sock, 0, 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
