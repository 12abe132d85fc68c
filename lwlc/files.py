"""Files lwlc writes: the mode a plain open() would give them, not a temporary file's 0600."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
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


def own_cache_folder(name: str = "") -> str | None:
    """The folder `name` in lwlc's cache folder ($XDG_CACHE_HOME or ~/.cache, then
    lwlc/), made (mode 0700) if need be. None where it cannot be made, or where it or
    lwlc/ is not the user's own or others may write to it: what lwlc keeps there is
    read back as code (lark's parser tables by pickle, XLA's machine code).
    Copied into the emitted JAX solvers: lines of at most 88 columns."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    top = os.path.join(root, "lwlc")
    folder = os.path.join(top, name) if name else top
    return folder if private_folder(top) and private_folder(folder) else None


def private_folder(path: str) -> bool:
    """Make `path` (mode 0700) if need be; whether it is then a folder of the user's own
    that nobody else may write to. Copied into the emitted JAX solvers."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
    except OSError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def temp_for(path: str | os.PathLike, suffix: str = ".part") -> tuple[int, str]:
    """mkstemp's (fd, name) for a file that `publish` will move over `path`: in the folder
    of `path` (of its target, for a symbolic link), so that the move is atomic; in the
    system's temporary folder where `path` is no regular file (a device, a FIFO), which is
    written through and whose folder (/dev) may not be writable. A LwlcError where no file
    can be made there."""
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        regular = True  # a new file
    real = os.path.realpath(path) if os.path.islink(path) else os.fspath(path)
    folder = (os.path.dirname(real) or ".") if regular else tempfile.gettempdir()
    try:
        return tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(real)}.",
                                suffix=suffix)
    except OSError as e:  # a read-only or full file system, a folder one may not write to
        link = (f" (a symbolic link to {os.readlink(path)})" if os.path.islink(path)
                else "")
        raise LwlcError(f"cannot write {path}{link}: {e.strerror or e}",
                        hint="check the path, its folder's permissions and free space") from None


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give a finished temporary file the mode of the file it replaces (a file the user
    made private stays so), or for a new file the default mode (0o666 less the umask);
    then move it over `path` atomically. A `path` that is a symbolic link has its target
    replaced (the link stays); one that is no regular file (a device such as /dev/null or
    /dev/stdout, a FIFO) is written through, never replaced. A write that fails is a
    LwlcError."""
    try:
        st = os.stat(path)  # follows links
    except OSError:
        st = None
    mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~umask()
    try:
        if st is not None and not stat.S_ISREG(st.st_mode):
            with open(tmp, "rb") as src, open(path, "wb") as out:
                shutil.copyfileobj(src, out)
            os.unlink(tmp)
            return
        dest = os.path.realpath(path) if os.path.islink(path) else os.fspath(path)
        os.chmod(tmp, mode)
        try:
            os.replace(tmp, dest)
        except OSError as e:
            if e.errno != errno.EXDEV:  # a link to another file system: copy there first
                raise
            fd, near = tempfile.mkstemp(dir=os.path.dirname(dest) or ".",
                                        prefix=f".{os.path.basename(dest)}.", suffix=".part")
            with open(tmp, "rb") as src, os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(src, out)
            os.chmod(near, mode)
            os.replace(near, dest)
            os.unlink(tmp)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise LwlcError(f"cannot write {path}: {e.strerror or e}",
                        hint="check the path, its folder's permissions and free space") from None


def output_file(path: str | os.PathLike, option: str = "--output",
                inputs: tuple = ()) -> Path:
    """``path`` checked as a file to write: not a directory, not one of the command's
    `inputs` (the model, its parameters, its data: the output would replace them), not a
    file of a training run (beside a run.json), and its folder created. A LwlcError (not
    an OSError) when it cannot be."""
    path = Path(path)
    if path.is_dir():
        raise LwlcError(f"{option} {path} is a directory, not a file",
                        hint="give a file's name (one inside that folder, if you like)")
    for given in inputs:
        with contextlib.suppress(OSError, TypeError, ValueError):
            if os.path.samefile(path, given) and stat.S_ISREG(os.stat(path).st_mode):
                raise LwlcError(f"{option} {path} is the file this command reads ({given}): "
                                "writing it would replace it",
                                hint="write the output to another file")
    from . import rundir

    run_files = (rundir.RUN, *rundir.OUTPUTS, *rundir.RESTARTS, rundir.LOCK)
    if path.name in run_files and (path.parent / rundir.RUN).is_file():
        # `predict -o RUN/log.csv` replaced the run's epoch log (a user test)
        raise LwlcError(f"{option} {path} is a file of the training run in {path.parent} "
                        "(lwlc train wrote it): writing it would replace it",
                        hint=f"write the output to another file, e.g. "
                             f"{path.parent / 'predictions.txt'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LwlcError(f"cannot create the folder of {option} {path}: {e.strerror or e}",
                        hint="give a path in a folder you can write to") from None
    return path


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a scheduler's time limit, a closed terminal) during a command
    that `stops_cleanly`: it stops as a Ctrl-C does, so that a run keeps its last epoch
    and an --overwrite puts the old run back, instead of dying where it stands."""

    def __init__(self, signum: int):
        super().__init__()
        self.signum = signum


# the signals that `stops_cleanly` turned into exceptions, kept until `check_signals`:
# Python ignores an exception raised in a finalizer (a __del__ or weakref callback), where
# a signal lands now and then while JAX frees buffers, and a run trained on after two
# Ctrl-Cs (seen once)
_SIGNALS: list[int] = []


def _terminated(signum, frame) -> None:
    _SIGNALS.append(signum)
    raise Terminated(signum)


def _interrupted(signum, frame) -> None:
    _SIGNALS.append(signum)
    raise KeyboardInterrupt


def check_signals() -> None:
    """Raise, at a point where it is safe, a signal of `stops_cleanly` whose exception
    went nowhere (see _SIGNALS); nothing where none came."""
    import signal

    if _SIGNALS:
        signum = _SIGNALS[0]
        _SIGNALS.clear()
        raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)


@contextlib.contextmanager
def stops_cleanly():
    """Within the block (on the main thread), SIGTERM and SIGHUP raise `Terminated` and
    SIGINT KeyboardInterrupt, where nothing else handles them, and each is noted for
    `check_signals`."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None and signal.getsignal(sig) is signal.SIG_DFL:
            previous[sig] = signal.signal(sig, _terminated)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _interrupted)
    _SIGNALS.clear()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _SIGNALS.clear()


@contextlib.contextmanager
def interrupts_held():
    """Hold a Ctrl-C (SIGINT), and a SIGTERM or SIGHUP under `stops_cleanly`, until the
    block is done, then raise it: files written together (an epoch's log, summary and
    params) are all written or none. Only on the main thread, where Python handles
    signals, and only where Python's own handler (or lwlc's) is installed."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = [sig for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None))
            if sig is not None and signal.getsignal(sig) in (signal.default_int_handler,
                                                              _terminated, _interrupted)]
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum))
                for sig in held}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        handler = previous[caught[0]]
        if callable(handler) and handler is not signal.default_int_handler:
            handler(caught[0], None)  # noted, as it would have been
        raise KeyboardInterrupt if caught[0] == signal.SIGINT else Terminated(caught[0])
