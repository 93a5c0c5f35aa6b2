"""Reading request bodies and query parameters: bounded, decoded into api/schema.py's structs, strict.

Every refusal is a 400 (413 for a body over the limit) whose message names the field, as
msgspec reports it: ``Invalid request body: Expected `bool | null`, got `str` - at `$.ephemeral```.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from pincus.api.schema import Timestamp, Wire
from pincus.base.errors import InvalidArgument
from pincus.base.gotime import parse_optional_time

MAX_JSON = 8 << 20  # no JSON body of the API comes near this; image uploads are not JSON
W = TypeVar("W", bound=Wire)


class RequestTooLarge(InvalidArgument):
    """A request body over the limit of its endpoint."""

    status = 413


def _dec_hook(kind: type, value: Any) -> Any:
    if kind is Timestamp:
        if not isinstance(value, str):
            raise TypeError(f"Expected `str`, got `{type(value).__name__}`")
        try:
            parse_optional_time(value)
        except InvalidArgument as exc:
            raise ValueError(str(exc)) from None
        return Timestamp(value)
    raise NotImplementedError(f"no decoder for {kind!r}")


_DECODERS: dict[type, msgspec.json.Decoder[Any]] = {}


def decode(raw: bytes, kind: type[W]) -> W:
    """Decode a JSON body into ``kind``; empty means ``{}``; any mismatch is a 400 naming the field."""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        decoder = _DECODERS[kind] = msgspec.json.Decoder(kind, dec_hook=_dec_hook)
    try:
        return decoder.decode(raw if raw.strip() else b"{}")
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidArgument(f"Invalid request body: {exc}") from None
    except RecursionError:
        raise InvalidArgument("Invalid request body: JSON nested too deeply") from None


async def read_raw(request: web.Request, limit: int = MAX_JSON) -> bytes:
    """The whole body, refused with a 413 before reading past ``limit`` bytes."""
    if (request.content_length or 0) > limit:
        raise RequestTooLarge(f"Request body too large (the limit is {limit} bytes)")
    raw = bytearray()
    while chunk := await request.content.read(65536):
        raw += chunk
        if len(raw) > limit:
            raise RequestTooLarge(f"Request body too large (the limit is {limit} bytes)")
    return bytes(raw)


async def read_body(request: web.Request, kind: type[W], limit: int = MAX_JSON) -> W:
    """The request's JSON body as a ``kind`` struct."""
    return decode(await read_raw(request, limit), kind)


def present(body: Wire) -> dict[str, Any]:
    """The fields a body set (non-null), by their JSON names, nested structs included: for the
    core services that take Incus's request objects as dicts."""
    out: dict[str, Any] = {}
    for f in msgspec.structs.fields(body):
        value = getattr(body, f.name)
        if value is not None:
            out[f.encode_name] = _plain(value)
    return out


def merged(old: dict[str, Any], new: W) -> W:
    """A PATCH: ``new`` with the fields it left out (or null) taken from ``old``, an API object."""
    return msgspec.convert({**old, **present(new)}, type(new))


def _plain(value: Any) -> Any:
    if isinstance(value, Wire):
        return present(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Timestamp):
        return str(value)
    return value


def query_int(request: web.Request, key: str, default: int) -> int:
    """An integer query parameter; anything else is a 400."""
    text = request.query.get(key, "")
    if text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f'Invalid value "{text}" for query parameter "{key}": an integer is expected') from None


def query_seconds(request: web.Request, key: str, default: float) -> float:
    """A finite number of seconds in a query parameter; anything else is a 400."""
    text = request.query.get(key, "")
    if text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InvalidArgument(f'Invalid value "{text}" for query parameter "{key}": a number is expected')
    return value
