"""Files lwlc writes: the mode a plain open() would give them, not a temporary file's 0600."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import LwlcError


def umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:  # Linux: /proc (os.umask can only be read by setting it)
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o077)  # elsewhere: briefly the most private mask, then restored
    os.umask(old)
    return old


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give a finished temporary file the default mode (0o666 less the umask), then move it
    over `path` atomically."""
    os.chmod(tmp, 0o666 & ~umask())
    os.replace(tmp, path)


def output_file(path: str | os.PathLike, option: str = "--output") -> Path:
    """``path`` checked as a file to write: not a directory, and its folder created. A
    LwlcError (not an OSError) when it cannot be."""
    path = Path(path)
    if path.is_dir():
        raise LwlcError(f"{option} {path} is a directory, not a file",
                        hint="give a file's name (one inside that folder, if you like)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LwlcError(f"cannot create the folder of {option} {path}: {e.strerror or e}",
                        hint="give a path in a folder you can write to") from None
    return path
