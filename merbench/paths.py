"""Where merbench keeps its caches: the platform's cache folder, or ``$MERBENCH_CACHE``."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "MERBENCH_CACHE"


def cache_dir(*parts: str) -> Path:
    """Return (and create) a folder under merbench's cache root.

    The root is ``$MERBENCH_CACHE`` when set, else the platform's user cache folder
    (``~/.cache/merbench`` on Linux, ``~/Library/Caches/merbench`` on macOS).

    Args:
        parts: sub-folders below the root, e.g. ``("audio",)``.

    Returns:
        The folder, created if missing.
    """
    override = os.environ.get(CACHE_ENV)
    if override:
        root = Path(os.path.expandvars(override)).expanduser()
    else:
        import platformdirs

        root = Path(platformdirs.user_cache_dir("merbench", appauthor=False))
    folder = root.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
