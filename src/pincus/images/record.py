"""The image record as the Incus REST API shows it (shared/api/image.go: api.Image)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pincus.base.gotime import go_time
from pincus.images.metadata import ImageMetadata, canonical_architecture


def from_unix(seconds: int) -> datetime | None:
    """A UTC datetime from a UNIX time; 0 means unset."""
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


@dataclass
class ImageAlias:
    """An alias as listed on an image (api.ImageAlias)."""

    name: str
    description: str = ""

    def to_api(self) -> dict[str, str]:
        """JSON form."""
        return {"name": self.name, "description": self.description}


@dataclass
class ImageSource:
    """Where a cached image came from (api.ImageSource)."""

    server: str
    protocol: str = "incus"
    alias: str = ""
    certificate: str = ""
    image_type: str = "container"

    def to_api(self) -> dict[str, str]:
        """JSON form."""
        return {"alias": self.alias, "certificate": self.certificate, "protocol": self.protocol,
                "server": self.server, "image_type": self.image_type}


@dataclass
class Image:
    """An image in the store; `to_api()` gives the JSON of GET /1.0/images/FINGERPRINT."""

    fingerprint: str
    filename: str
    size: int
    architecture: str
    type: str = "container"
    public: bool = False
    auto_update: bool = False
    cached: bool = False
    properties: dict[str, str] = field(default_factory=dict)
    aliases: list[ImageAlias] = field(default_factory=list)
    profiles: list[str] = field(default_factory=lambda: ["default"])
    project: str = "default"
    created_at: datetime | None = None
    expires_at: datetime | None = None
    uploaded_at: datetime | None = None
    last_used_at: datetime | None = None
    update_source: ImageSource | None = None

    @classmethod
    def from_metadata(
        cls, meta: ImageMetadata, *, fingerprint: str, filename: str, size: int,
        image_type: str = "container", uploaded_at: datetime | None = None, **kwargs: Any,
    ) -> Image:
        """A new record for an uploaded image, filled from its metadata.yaml as Incus does."""
        return cls(
            fingerprint=fingerprint, filename=filename, size=size,
            architecture=canonical_architecture(meta.architecture), type=image_type,
            properties=dict(meta.properties), created_at=from_unix(meta.creation_date),
            expires_at=from_unix(meta.expiry_date), uploaded_at=uploaded_at or datetime.now(UTC),
            **kwargs,
        )

    def to_api(self) -> dict[str, Any]:
        """The api.Image JSON object, fields in Incus's order; update_source only when set."""
        out: dict[str, Any] = {
            "auto_update": self.auto_update,
            "properties": dict(self.properties),
            "public": self.public,
            "expires_at": go_time(self.expires_at),
            "profiles": list(self.profiles),
            "aliases": [a.to_api() for a in self.aliases],
            "architecture": self.architecture,
            "cached": self.cached,
            "filename": self.filename,
            "fingerprint": self.fingerprint,
            "size": self.size,
        }
        if self.update_source is not None:
            out["update_source"] = self.update_source.to_api()
        out.update(
            type=self.type,
            created_at=go_time(self.created_at),
            last_used_at=go_time(self.last_used_at),
            uploaded_at=go_time(self.uploaded_at),
            project=self.project,
        )
        return out
