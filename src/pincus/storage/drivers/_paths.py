"""Paths and stats shared by the dir driver's tree walks (relative paths, "" for the root)."""

from __future__ import annotations

import os


def join_rel(rel: str, name: str) -> str:
    """The relative path of ``name`` inside the relative directory ``rel``."""
    return f"{rel}/{name}" if rel else name


def under(root: str, rel: str) -> str:
    """The path of the relative path ``rel`` under ``root``."""
    return f"{root}/{rel}" if rel else root


def lstat_or_none(path: str) -> os.stat_result | None:
    """lstat of ``path``, or None when it does not exist (anymore)."""
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
