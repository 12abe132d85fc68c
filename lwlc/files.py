"""Files lwlc writes: the mode a plain open() would give them, not a temporary file's 0600."""

from __future__ import annotations

import os


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
