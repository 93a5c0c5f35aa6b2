"""The pincus exception tree; every error a user sees is one of these.

Foreign errors (OSError, sqlite3, liblxc) are translated at the boundary where they occur.
Each class carries its HTTP status (``status``), so the status lives next to the error it
describes; the API's error middleware (api/response.py) answers ``exc.status`` for any of them.
"""

from __future__ import annotations


class PincusError(Exception):
    """Base class; ``status`` is the HTTP status the API answers with."""

    status = 500


class InvalidArgument(PincusError):
    """The request is malformed or names something invalid."""

    status = 400


class Forbidden(PincusError):
    """The caller is not allowed to do this."""

    status = 403


class NotFound(PincusError):
    """The named object does not exist."""

    status = 404


class Conflict(PincusError):
    """The object already exists, or its state does not allow the change."""

    status = 409


class PreconditionFailed(PincusError):
    """An If-Match ETag did not match."""

    status = 412


class NotSupported(PincusError):
    """The feature cannot work here (driver capability, kernel, CRIU)."""

    status = 400


class InsufficientSpace(PincusError):
    """The storage pool has no room for the change."""

    status = 507


class StorageError(PincusError):
    """A storage driver failed."""

    status = 500


class RuntimeFailure(PincusError):
    """The container runtime (liblxc) failed."""

    status = 500
