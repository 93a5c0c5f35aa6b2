"""Incus image files: fingerprints, metadata.yaml, safe unpacking, and the API image record.

    fingerprint.py   fingerprint(*paths), image_size(*paths)
    compression.py   detect_compression(path), open_tar_stream(path)
    metadata.py      read_metadata(path) -> (ImageMetadata, type), parse_metadata(text)
    unpack.py        unpack_rootfs, unpack_metadata, unpack_image (validated, then the system tar)
    tarstream.py     the streaming tar reader/writer unpack.py validates with
    record.py        Image.to_api(): the JSON of GET /1.0/images/FINGERPRINT
"""
