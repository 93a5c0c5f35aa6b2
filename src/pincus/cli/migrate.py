"""Copies and moves between servers (``copy INST REMOTE:INST``, ``--refresh``, ``move``), as
Incus's client drives them: a migration source operation on one server, an instance creation with
``source.type = "migration"`` on the other, in pull (default), push or relay mode.

Unlike Incus, a pull from a source that does not listen on the network (a local unix socket
without ``core.https_address``) falls back to push, where the source connects to the target.
"""

from __future__ import annotations

import os
import sys
import threading

from pincus.cli.common import CLIError, Ctx, is_snapshot, split_snapshot
from pincus.cli.flags import Options
from pincus.client.connection import ClientError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pincus.client.client import Client
    from pincus.client.operations import Operation

RUNNING = 103


def connection_info(ctx: Ctx, remote: str, client: Client) -> tuple[list[str], str]:
    """(HTTPS base URLs, PEM certificate) another server can reach ``remote`` with."""
    server, _ = client.get_server()
    env = server.get("environment") or {}
    urls = [f"https://{a}" for a in env.get("addresses") or []]
    conf = ctx.config.remotes.get(remote)
    if conf is not None and conf.addr.startswith("https://"):
        urls = [conf.addr.rstrip("/"), *[u for u in urls if u != conf.addr.rstrip("/")]]
    return urls, str(env.get("certificate") or "")


def source_request(opts: Options) -> dict[str, Any]:
    """The InstancePost body that turns an instance (or snapshot) into a migration source."""
    return {"name": "", "migration": True, "live": False, "instance_only": bool(opts.instance_only),
            "container_only": bool(opts.instance_only), "allow_inconsistent": bool(opts.allow_inconsistent)}


def _start_source(client: Client, source: str, body: dict[str, Any]) -> Operation:
    from pincus.client.instances import instance_path
    from pincus.client.operations import Operation

    if is_snapshot(source):
        inst, snap = split_snapshot(source)
        path = f"{instance_path(inst)}/snapshots/{snap}"
    else:
        path = instance_path(source)
    resp = client.conn.request("POST", path, body)
    return Operation.from_response(client.conn, resp)


def _wait(op: Operation) -> None:
    """Wait for the target's operation, showing its transfer progress on a terminal (as Incus)."""
    if not os.isatty(1):
        op.wait()
        return
    shown = False
    while True:
        data = op.wait(timeout=1)
        if int(data.get("status_code") or 0) >= 200:
            break
        text = str((data.get("metadata") or {}).get("fs_progress") or "")
        if text:
            sys.stdout.write(f"\r\033[KTransferring instance: {text}")
            sys.stdout.flush()
            shown = True
    if shown:
        sys.stdout.write("\r\033[K")
        sys.stdout.flush()


def transfer(ctx: Ctx, opts: Options, req: dict[str, Any], source: str, src_remote: str, dst_remote: str) -> None:
    """Copy ``source`` from src_remote into the instance ``req`` describes on dst_remote."""
    src, dst = ctx.client(src_remote), ctx.client(dst_remote)
    mode = opts.mode or "pull"
    if mode not in ("pull", "push", "relay"):
        raise CLIError(f"Invalid transfer mode: {mode}")
    migration = {"type": "migration", "base-image": req["source"].get("base-image", ""), "live": False,
                 "instance_only": bool(opts.instance_only), "refresh": bool(opts.refresh),
                 "refresh_exclude_older": bool(opts.refresh_exclude_older)}
    if getattr(opts, "keep_target_snapshots", False):
        migration["keep_target_snapshots"] = True
    src_urls, src_cert = connection_info(ctx, src_remote, src) if mode == "pull" else ([], "")
    if mode == "pull" and not src_urls:
        mode = "push"  # the source cannot be reached: let it connect to the target instead
    if mode == "pull":
        _pull(src, dst, req, source, migration, opts, src_urls, src_cert)
    elif mode == "push":
        _push(ctx, src, dst, req, source, migration, opts, dst_remote)
    else:
        _relay(src, dst, req, source, migration, opts)


def _pull(src: Client, dst: Client, req: dict[str, Any], source: str, migration: dict[str, Any],
          opts: Options, urls: list[str], cert: str) -> None:
    src_op = _start_source(src, source, source_request(opts))
    secrets = {k: v for k, v in src_op.metadata.items() if isinstance(v, str)}
    errors = []
    for url in urls:
        body = {**req, "source": {**migration, "mode": "pull", "operation": f"{url}/1.0/operations/{src_op.id}",
                                  "certificate": cert, "secrets": secrets}}
        try:
            op = dst.create_instance(body)
        except ClientError as exc:
            errors.append(f"{url}: {exc}")
            continue
        try:
            _wait(op)
        except ClientError:
            _cancel_quietly(src_op)
            raise
        src_op.wait()
        return
    _cancel_quietly(src_op)
    raise CLIError("Failed instance creation:\n" + "\n".join(f" - {e}" for e in errors))


def _push(ctx: Ctx, src: Client, dst: Client, req: dict[str, Any], source: str, migration: dict[str, Any],
          opts: Options, dst_remote: str) -> None:
    dst_urls, dst_cert = connection_info(ctx, dst_remote, dst)
    if not dst_urls:
        raise CLIError("The target server isn't listening on the network")
    op = dst.create_instance({**req, "source": {**migration, "mode": "push"}})
    secrets = {k: v for k, v in op.metadata.items() if isinstance(v, str)}
    target = {"operation": f"{dst_urls[0]}/1.0/operations/{op.id}", "certificate": dst_cert, "secrets": secrets}
    src_op = _start_source(src, source, {**source_request(opts), "target": target})
    try:
        _wait(op)
    finally:
        try:
            src_op.wait()
        except ClientError:
            pass


def _relay(src: Client, dst: Client, req: dict[str, Any], source: str, migration: dict[str, Any],
           opts: Options) -> None:
    """Both servers answer websocket operations; this client carries the frames between them."""
    from pincus.client.websocket import WebSocket

    src_op = _start_source(src, source, source_request(opts))
    op = dst.create_instance({**req, "source": {**migration, "mode": "push"}})
    a = WebSocket.connect(src.conn, f"{src_op.url}/websocket?secret={src_op.metadata['control']}")
    b = WebSocket.connect(dst.conn, f"{op.url}/websocket?secret={op.metadata['control']}")

    def carry(one: WebSocket, other: WebSocket) -> None:
        try:
            while (msg := one.recv()) is not None:
                opcode, payload = msg
                if opcode == 8:  # close
                    break
                other.send(payload, opcode)
        except (ClientError, OSError):
            pass
        finally:
            other.send_close()

    threads = [threading.Thread(target=carry, args=pair, daemon=True) for pair in ((a, b), (b, a))]
    for thread in threads:
        thread.start()
    try:
        _wait(op)
    finally:
        for thread in threads:
            thread.join(timeout=5)
        a.close()
        b.close()
        try:
            src_op.wait()
        except ClientError:
            pass


def _cancel_quietly(op: Operation) -> None:
    try:
        op.cancel()
    except ClientError:
        pass


def move(ctx: Ctx, opts: Options, source: str, src_remote: str, dest: str, dst_remote: str) -> None:
    """Move an instance to another server: copy it with its snapshots, then delete the source."""
    from pincus.cli.copy import copy_request

    if is_snapshot(source):
        raise CLIError("Moving snapshots between servers is not supported, copy them instead")
    src = ctx.client(src_remote)
    inst, _ = src.get_instance(source)
    if inst.get("status_code") == RUNNING:
        raise CLIError("The instance is currently running, stop it first (moving a running instance "
                       "between servers needs a stateful migration, which needs CRIU)")
    defaults = {"refresh": False, "refresh_exclude_older": False, "ephemeral": False, "stateless": True}
    opts = Options({**defaults, **opts.__dict__})
    req = copy_request(src, source, dest, opts)
    transfer(ctx, opts, req, source, src_remote, dst_remote)
    src.delete_instance(source).wait()
