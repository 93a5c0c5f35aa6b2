"""Images: import Incus-format tarballs, aliases, and the per-pool unpacked image volume."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pincus.base.errors import Conflict, InvalidArgument, NotFound
from pincus.base.revert import Reverter
from pincus.core.state import State
from pincus.db.records import ImageRecord
from pincus.db.store import db_time
from pincus.images.fingerprint import fingerprint as image_fingerprint
from pincus.images.metadata import canonical_architecture, read_metadata
from pincus.images.unpack import unpack_image
from pincus.storage.drivers.base import IMAGE, Volume


class Images:
    """Image records, their tarballs under $PINCUS_DIR/images, and image volumes in pools."""

    def __init__(self, st: State) -> None:
        self.st = st

    def clean_leftovers(self) -> list[str]:
        """At daemon start: remove uploads and publishes a crash interrupted (hidden names in images/,
        where stored tarballs are named by fingerprint)."""
        done = []
        for path in sorted(self.st.paths.images.glob(".*")):
            if path.name.startswith((".upload-", ".publish-")):
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
                done.append(f"Deleted the unfinished image upload {path}")
        return done

    def tarballs(self, fingerprint: str) -> tuple[Path, Path | None]:
        """The stored metadata (or unified) tarball and the rootfs tarball (None if unified)."""
        base = self.st.paths.images / fingerprint
        rootfs = base.with_name(fingerprint + ".rootfs")
        return base, (rootfs if rootfs.exists() else None)

    def import_files(self, meta: Path, rootfs: Path | None, filename: str = "", public: bool = False,
                     aliases: list[dict[str, str]] | None = None) -> ImageRecord:
        """Register uploaded tarballs (moved into the store); a known fingerprint is a conflict."""
        fingerprint = image_fingerprint(meta, rootfs) if rootfs else image_fingerprint(meta)
        metadata, _ = read_metadata(meta)
        size = meta.stat().st_size + (rootfs.stat().st_size if rootfs else 0)
        try:
            self.st.store.get_image(fingerprint)
            raise Conflict("Image with same fingerprint already exists")
        except NotFound:
            pass
        self.st.paths.images.mkdir(parents=True, exist_ok=True)
        dest_meta, _ = self.tarballs(fingerprint)
        dest_rootfs = dest_meta.with_name(fingerprint + ".rootfs")
        now = self.st.clock()
        created = metadata.creation_date
        rec = ImageRecord(
            fingerprint=fingerprint, filename=filename or f"{fingerprint[:12]}.tar.xz", size=size,
            architecture=canonical_architecture(metadata.architecture or "x86_64"),
            created_at=db_time(datetime.fromtimestamp(created, timezone.utc) if created else now),
            uploaded_at=db_time(now), expires_at=db_time(None), last_used_at=db_time(None),
            properties=dict(metadata.properties),
            public=public, split=rootfs is not None,
        )
        with Reverter() as rev:
            shutil.move(str(meta), dest_meta)
            rev.add(lambda: dest_meta.unlink(missing_ok=True))
            if rootfs is not None:
                shutil.move(str(rootfs), dest_rootfs)
                rev.add(lambda: dest_rootfs.unlink(missing_ok=True))
            with self.st.store.transaction():
                self.st.store.create_image(rec)
                for alias in aliases or []:
                    self.st.store.create_alias(alias["name"], fingerprint, alias.get("description", ""))
            rev.success()
        return rec

    def resolve(self, source: dict[str, Any]) -> ImageRecord:
        """The image an InstanceSource names by alias or fingerprint."""
        alias = source.get("alias")
        fingerprint = source.get("fingerprint")
        if not fingerprint and alias:
            try:
                fingerprint = self.st.store.get_alias(str(alias))[1]
            except NotFound:
                raise NotFound(f'Image "{alias}" not found') from None
        if not fingerprint:
            raise InvalidArgument("No image alias or fingerprint was given")
        try:
            return self.st.store.get_image(str(fingerprint))
        except NotFound:
            raise NotFound(f'Image "{fingerprint}" not found') from None

    async def ensure_volume(self, image: ImageRecord, pool: str) -> Volume:
        """The image unpacked once per pool (instances are CoW clones or fast copies of it)."""
        vol = Volume(pool, IMAGE, image.fingerprint)
        driver = self.st.driver(pool)
        async with self.st.locks.hold(f"image:{pool}:{image.fingerprint}"):
            if not await self.st.blocking(driver.volume_exists, vol):
                meta, rootfs = self.tarballs(image.fingerprint)

                def fill(path: Path) -> None:
                    unpack_image(path, meta, rootfs)

                await self.st.blocking(driver.create_volume, vol, fill)
        image.last_used_at = db_time(self.st.clock())
        self.st.store.update_image(image)
        return vol

    async def delete(self, fingerprint: str) -> None:
        """Delete an image: its volumes in every pool, its tarballs and its record."""
        image = self.st.store.get_image(fingerprint)
        for pool, driver in self.st.drivers.items():
            vol = Volume(pool, IMAGE, image.fingerprint)
            async with self.st.locks.hold(f"image:{pool}:{image.fingerprint}"):
                await self.st.blocking(driver.delete_volume, vol)
        meta, rootfs = self.tarballs(image.fingerprint)
        self.st.store.delete_image(image.fingerprint)
        for path in (meta, rootfs):
            if path is not None:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
