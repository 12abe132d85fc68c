"""Run directories: one training run per `--out DIR`, recorded, locked and checked on resume.

A run directory holds

- ``run.json``: what defines the run (model text hash, effective parameters and settings, data
  specs and content hashes, seed, backend, dtype, lwlc version), written once when it starts;
- ``params.npz``, ``log.csv``, ``summary.json``: the last completed epoch, rewritten atomically
  each epoch, log and summary first and ``params.npz`` last: ``params.npz`` is the checkpoint,
  and its metadata holds the run's id and the hashes of the log and summary written with it;
- ``.lock``: locked (``flock``) by the process that trains into the directory, holding its pid.

`lwlc train --out DIR` refuses a directory that holds a run unless given ``--resume`` (which
checks that the run's definition is unchanged and every file it reads back is intact) or
``--overwrite`` (which replaces it: the old files are set aside, hidden as ``.NAME.replaced``,
until the new run has written its first epoch, and put back if it stops before).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import re
import socket
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from . import __version__
from .errors import DataError, LwlcError

RUN = "run.json"
PARAMS = "params.npz"
LOG = "log.csv"
SUMMARY = "summary.json"
LOCK = ".lock"
OUTPUTS = (PARAMS, LOG, SUMMARY)
# the keys lwlc's .npz files keep their own records under: params.npz its metadata,
# restarts.npz each start's seed and outcome (no model may name anything so: elaborate)
META, SEEDS, SOLVED = "__meta__", "__seed__", "__converged__"
RECORD_NAMES = frozenset({META, SEEDS, SOLVED})
RESTARTS = ("restarts.json", "restarts.csv", "restarts.npz")  # what `--restarts R` writes
FORMAT = 1

# run.json keys that say where and when, not what: never compared on --resume
INFORMATIONAL = ("created", "model_file", "devices", "overrides", "host", "pid")
START_OVER = "start over with --overwrite (it replaces the run), or train into another --out"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_fingerprint(source: str) -> str:
    """A hash of a model's text that comments, blank lines, spacing (outside strings) and
    `data` lines leave alone: what evaluate and predict compare with the text the
    parameters were trained with (a model given a `data test` line is the same model;
    `omega=2` is `omega = 2`, and a statement may be wrapped: a user test)."""
    kept = []
    for line in source.splitlines():
        if re.match(r"\s*data\b", line):
            continue
        kept += _without_spacing(line)
    return sha256_bytes("".join(kept).encode())


def _without_spacing(line: str) -> list[str]:
    """A line's text less its comment and the white space outside its strings, as
    pieces (strings, "...", whole)."""
    out, i = [], 0
    while i < len(line):
        ch = line[i]
        if ch == "#":
            break
        if ch == '"':
            end = line.find('"', i + 1)
            end = len(line) if end < 0 else end + 1
            out.append(line[i:end])
            i = end
            continue
        if not ch.isspace():
            out.append(ch)
        i += 1
    return ["".join(out)] if out else []


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


# --- parameter files ---------------------------------------------------------------------------


def meta_text(stored: np.ndarray) -> str:
    """params.npz's `__meta__` as JSON text: UTF-8 bytes (uint8), or a string array as
    written before."""
    return stored.tobytes().decode() if stored.dtype == np.uint8 else str(stored)


def read_params(path: str | Path, hint: str | None = None) -> tuple[dict, dict]:
    """The arrays and metadata of a params.npz, or of the one in a run folder (lwlc train
    --out DIR: its params.npz, or the restarts' .npz); DataError naming the file on anything
    wrong."""
    path = Path(path)
    if path.is_dir():
        inside = [path / name for name in (PARAMS, RESTARTS[2]) if (path / name).is_file()]
        path = inside[0] if inside else path
    damaged = hint or "it may be truncated or damaged; train again to rewrite it"
    if not path.exists():
        aside = path.parent / f".{path.name}.replaced"
        raise DataError(f"no such parameter file: {path}", hint=(
            f"an --overwrite in {path.parent} was stopped before its first epoch: the run "
            f"it replaces is set aside ({aside.name}), and the next lwlc train --out "
            f"{path.parent} puts it back" if aside.exists() and
            (path.parent / RunDir.MANIFEST).exists()
            else "train first: lwlc train MODEL.lwl --out DIR"))
    if path.is_dir():
        raise DataError(f"{path} is a directory that holds no {PARAMS} (nor "
                        f"{RESTARTS[2]})", hint="give the folder lwlc train --out DIR "
                        "wrote, or the params.npz in it")
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):
        what = "it is empty" if not head else f"it begins with {head!r}"
        raise DataError(f"{path} is not a parameter file written by lwlc train (not an .npz "
                        f"archive: {what})", hint=damaged)
    if head.startswith(b"\x93NUMPY"):  # np.load gives a bare array, no archive
        raise DataError(f"{path} is a single .npy array, not a parameter file written by lwlc "
                        "train", hint="give the params.npz that lwlc train --out DIR wrote")
    try:
        with np.load(path, allow_pickle=False) as z:
            params = {k: np.array(z[k]) for k in z.files if k != META}
            raw = meta_text(z[META]) if META in z.files else None
    except DataError:
        raise
    except MemoryError:
        raise DataError(f"{path} is not a parameter file written by lwlc train (it claims an "
                        "array too large to load)", hint=damaged) from None
    except Exception as e:  # BadZipFile, CRC, EOF, header, pickle refusal, ...: a damaged file
        raise DataError(f"{path} is not a parameter file written by lwlc train "
                        f"({_short(e)})", hint=damaged) from None
    meta: dict = {}
    if raw is not None:
        try:
            meta = json.loads(raw)
        except ValueError as e:
            raise DataError(f"{path}: its metadata is not valid JSON ({e})", hint=damaged) from None
        if not isinstance(meta, dict):
            raise DataError(f"{path}: its metadata is not a JSON object", hint=damaged)
    for k, v in params.items():
        if v.dtype.kind not in "fiu":
            raise DataError(f"{path}: '{k}' holds {v.dtype} values, not numbers", hint=damaged)
        if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
            raise DataError(f"{path}: '{k}' holds NaN or infinity", hint=damaged)
    return params, meta


def check_params(params: dict, wanted: dict, path: str | Path, model: str) -> None:
    """Every learned parameter the model needs, with its shape."""
    for k, v in wanted.items():
        if k not in params:
            raise DataError(f"{path} has no '{k}' for model {model}",
                            hint="was it trained from another model?")
        if np.shape(params[k]) != np.shape(v):
            raise DataError(f"{path}: '{k}' has shape {np.shape(params[k])}, but model "
                            f"{model} needs {np.shape(v)}",
                            hint="was it trained from another model or other --set sizes?")
    extra = sorted(set(params) - set(wanted))
    if extra:
        raise DataError(f"{path} has parameters model {model} does not have: "
                        f"{', '.join(extra)}", hint="was it trained from another model?")


# --- the log ------------------------------------------------------------------------------


def log_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    fields = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    return buf.getvalue()


def parse_log(path: Path, raw: bytes) -> tuple[list[dict], list[str]]:
    """Rows of a log.csv (values as text, as written) and its lines with their endings."""
    hint = f"it may be truncated or damaged; restore it, or {START_OVER}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not a training log (not UTF-8 text: byte {e.start})",
                        hint=hint) from None
    lines = text.splitlines(keepends=True)
    if not lines:
        raise DataError(f"{path} is empty: the run's per-epoch history is lost", hint=hint)
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        table = [r for r in reader]
    except csv.Error as e:
        raise DataError(f"{path} is not a training log ({e})", hint=hint) from None
    header = table[0]
    if not header or header[0] != "epoch" or len(set(header)) != len(header):
        raise DataError(f"{path} is not a training log (its header is {','.join(header)[:60]!r})",
                        hint=hint)
    rows = []
    for n, cells in enumerate(table[1:], start=1):
        if not cells:
            raise DataError(f"{path}:{n + 1}: an empty row (were its line ends converted?)",
                            hint=hint)
        if len(cells) != len(header):
            raise DataError(f"{path}:{n + 1}: {len(cells)} values for {len(header)} columns",
                            hint=hint)
        row = dict(zip(header, cells, strict=True))
        for k, v in row.items():
            try:
                x = float(v)
            except ValueError:
                raise DataError(f"{path}:{n + 1}: {k} = {v[:30]!r} is not a number",
                                hint=hint) from None
            if k == "epoch" and (not math.isfinite(x) or x != n):
                raise DataError(f"{path}:{n + 1}: epoch {v[:30]} where epoch {n} belongs",
                                hint=hint)
        rows.append(row)
    return rows, lines


# --- the run's record -----------------------------------------------------------------------


def data_record(spec: str | None, bound) -> dict | None:
    """A data set as run.json records it: the spec as given, where it came from, its size and a
    hash of its values (so an edited file or another generator draw is told apart)."""
    if bound is None:
        return None
    h = hashlib.sha256()
    for name in sorted(bound.inputs):
        v = np.ascontiguousarray(bound.inputs[name], dtype=np.float64)
        h.update(f"{name}{v.shape}".encode())
        h.update(v.tobytes())
    for name in sorted(bound.labels):
        v = np.ascontiguousarray(bound.labels[name], dtype=np.int64)
        h.update(f"{name}{v.shape}".encode())
        h.update(v.tobytes())
    return {"spec": str(spec), "source": getattr(bound, "source", "") or bound.name,
            "items": len(bound), "sha256": h.hexdigest()}


def own_record(own: dict, specs: dict) -> dict:
    out = {}
    for name, values in sorted(own.items()):
        v = np.ascontiguousarray(values, dtype=np.float64)
        out[name] = {"spec": str(specs.get(name, "")), "items": int(v.shape[0]),
                     "sha256": sha256_bytes(v.tobytes())}
    return out


def run_record(*, model, backend: str, dtype: str, overrides: dict, train: dict | None,
               test: dict | None, own: dict, devices: int) -> dict:
    """What defines a run (all but `epochs`, which --resume may raise), plus where and when."""
    from datetime import UTC, datetime

    s = model.solver
    return {
        "format": FORMAT,
        "lwlc": __version__,
        "model": model.name,
        "model_sha256": resume_fingerprint(model),
        "backend": backend,
        "dtype": dtype,
        "seed": int(s.seed),
        "params": {k: float(v) for k, v in model.params.items()},
        "solver": {"method": s.method, "beta": float(s.beta),
                   "lam": None if s.lam is None else float(s.lam),
                   "iterations": int(s.iterations), "tolerance": float(s.tolerance),
                   "error": s.error, "restart": bool(s.restart)},
        "batch": {p.name: int(p.size) for p in model.batch.parts},
        "train_data": train,
        "test_data": test,
        "own_data": own,
        # informational
        "overrides": {k: v for k, v in overrides.items() if k != "epochs"},
        "model_file": str(model.file),
        "devices": devices,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def resume_fingerprint(model) -> str:
    """model_fingerprint of the model's text without the solve line's `epochs = N`, which
    --resume may raise (a comment added to the model, or more epochs written in it, refused
    the resume as a changed model)."""
    text = model.source
    span = model.solver.epochs_span if model.solver is not None else None
    if span is not None and span.end_line is not None and span.end_col is not None:
        starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        a = starts[span.line - 1] + span.col - 1
        b = starts[span.end_line - 1] + span.end_col - 1
        text = text[:a] + text[b:]
    # the edge files' contents too: rewired edges put the weights on other edges
    return model_fingerprint(text) + edges_fingerprint(model)


FINGERPRINTS = ("model_fingerprint", "edges_fingerprint")


def fingerprints(model) -> dict[str, str]:
    """What a run's summary and params.npz record of the model, which evaluate and predict
    compare with the model they are given: its text and its edge files' edges."""
    return {"model_fingerprint": model_fingerprint(model.source),
            "edges_fingerprint": edges_fingerprint(model)}


def edges_fingerprint(model) -> str:
    """The edges of a model that reads edge files (`edges E = file(...)`), hashed: every
    edge set's tails and heads, so that a comment or another spelling of the same edges
    in a file is the same model (its bytes were: a re-test); "" without edge files.
    Rewired edges put the learned weights on other edges."""
    if not getattr(model, "edge_files", ()):
        return ""
    h = hashlib.sha256()
    for es in model.edge_sets.values():
        h.update(es.name.encode() + b"\0")
        h.update(np.ascontiguousarray(es.tail, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(es.head, dtype=np.int64).tobytes())
    return ":" + h.hexdigest()[:16]


def run_id(record: dict) -> str:
    """A short hash of what defines a run (the record less its informational keys)."""
    core = {k: v for k, v in record.items() if k not in INFORMATIONAL}
    return sha256_bytes(json.dumps(core, sort_keys=True).encode())[:16]


REQUIRED = {"format": int, "lwlc": str, "model": str, "model_sha256": str, "backend": str,
            "dtype": str, "seed": int, "params": dict, "solver": dict, "batch": dict,
            "own_data": dict}


def _num(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def differences(now: dict, then: dict, given: dict) -> list[str]:
    """What differs between the run being started (`now`) and the recorded one (`then`), in
    the user's terms; `given` are the --set overrides of this command."""
    out: list[str] = []

    def setting(name: str, new, old, note: str = "") -> None:
        if new == old:
            return
        if name in given:
            out.append(f"--set {name}={_num(new)} differs from the run's {name} = {_num(old)}")
        else:
            was = then.get("overrides", {}).get(name)
            how = f" (it had --set {name}={_num(was)})" if was is not None else ""
            out.append(f"{name} = {_num(new)}{note} differs from the run's {name} = "
                       f"{_num(old)}{how}")

    if now["lwlc"] != then["lwlc"]:
        out.append(f"lwlc {now['lwlc']} is not the lwlc {then['lwlc']} that started the run")
    text_now, _, edges_now = now["model_sha256"].partition(":")
    text_then, _, edges_then = then["model_sha256"].partition(":")
    if text_now != text_then:
        out.append(f"model text changed since the run ({now['model_file']}; the run's model "
                   f"was {then['model']!r} from {then.get('model_file', '?')}; comments, "
                   "spacing and the solve line's epochs may change)")
    elif edges_now != edges_then:
        out.append(f"the edge files {now['model_file']} reads (`edges ... = file(...)`) "
                   "changed since the run: the weights would sit on other edges")
    if now["backend"] != then["backend"]:
        out.append(f"--backend {now['backend']} differs from the run's --backend "
                   f"{then['backend']}")
    if now["dtype"] != then["dtype"]:
        out.append(f"--dtype {now['dtype']} differs from the run's --dtype {then['dtype']}")
    if now["seed"] != then["seed"]:
        if "seed" in given:
            out.append(f"--seed {now['seed']} differs from the run's seed {then['seed']}")
        else:
            out.append(f"seed {now['seed']} differs from the run's seed {then['seed']} "
                       f"(pass --seed {then['seed']})")
    for group in ("params", "solver", "batch"):
        a, b = now[group], then.get(group, {})
        for name in dict.fromkeys([*a, *b]):
            if name not in b:
                out.append(f"{name} = {_num(a[name])} is new since the run")
            elif name not in a:
                out.append(f"the run's {name} = {_num(b[name])} is gone from the model")
            else:
                setting(name, a[name], b[name], " (the model's)" if group == "params" else "")
    for key, flag, what in (("train_data", "--data", "training"), ("test_data", "--test", "test")):
        a, b = now.get(key), then.get(key)
        if (a or {}).get("sha256") == (b or {}).get("sha256"):
            continue
        if a is None or b is None:
            out.append(f"{what} data: {a['spec'] if a else 'none'} differs from the run's "
                       f"{b['spec'] if b else 'none'}")
        elif a["spec"] != b["spec"] and a.get("source") != b.get("source"):
            out.append(f"{flag} {a['spec']} differs from the run's {flag} {b['spec']}")
        else:
            out.append(f"{what} data {a['spec']} changed since the run ({a['items']} items now, "
                       f"{b['items']} then; its values differ)")
    a, b = now["own_data"], then.get("own_data", {})
    for name in dict.fromkeys([*a, *b]):
        if a.get(name, {}).get("sha256") != b.get(name, {}).get("sha256"):
            out.append(f"the data of input {name} ({a.get(name, {}).get('spec', 'none')}) "
                       "changed since the run")
    return out


# --- the directory ----------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """What --resume continues from: the last completed epoch."""

    epochs: int = 0
    params: dict | None = None
    meta: dict = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    summary: dict | None = None
    notes: list[str] = field(default_factory=list)


def _present(path: Path) -> bool:
    """A file is there, or a link (even one whose target is gone)."""
    return path.exists() or path.is_symlink()


class RunDir:
    """One run's directory: lock, record, checkpoint."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fd: int | None = None
        self._created = False  # the lock made the directory (nothing was there)

    def __str__(self) -> str:
        return str(self.path)

    def file(self, name: str) -> Path:
        return self.path / name

    # the lock

    def lock(self) -> None:
        """Take DIR/.lock for this process (flock, released when it ends, however it ends)."""
        if self.path.is_symlink() and not self.path.exists():
            raise LwlcError(f"--out {self.path} is a symbolic link to "
                            f"{os.readlink(self.path)}, which does not exist",
                            hint="create the folder it points to, or give another --out")
        try:
            self._created = not self.path.exists()
            self.path.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise LwlcError(f"--out {self.path} is a file, not a directory",
                            hint="give a directory for the run's files") from None
        except OSError as e:
            raise LwlcError(f"cannot create --out {self.path}: {e.strerror or e}") from None
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return
        path = self.file(LOCK)
        # never through a link (its target was truncated), never blocking on a FIFO
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK
        try:
            fd = os.open(path, flags, 0o666)
        except OSError as e:
            if path.is_symlink():
                raise LwlcError(f"{path} is a symbolic link: lwlc writes its lock there and "
                                "does not follow links", hint=f"remove {path}") from None
            raise LwlcError(f"cannot open {path}: {e.strerror or e}",
                            hint="the run directory must be writable") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise LwlcError(f"{path} is not a regular file: lwlc writes its lock there",
                            hint=f"remove {path}")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
            except OSError:
                holder = []
            os.close(fd)
            who = f"pid {holder[0]}" + (f" on {holder[1]}" if len(holder) > 1 else "") \
                if holder else "a process that has not written its pid yet"
            raise LwlcError(f"{self.path} is in use: another lwlc train ({who}) is writing to "
                            "it", hint="wait for that run to end (or stop it), or give this "
                            "one another --out") from None
        except OSError as e:  # a file system without locks: go on without one
            if e.errno not in (37, 38, 95):  # ENOLCK, ENOSYS, EOPNOTSUPP
                os.close(fd)
                raise LwlcError(f"cannot lock {path}: {e.strerror or e}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        try:  # the epochs' files are made here: find out now, not after an epoch's work
            probe, name = tempfile.mkstemp(dir=self.path, prefix=".lwlc-probe-")
            os.close(probe)
            os.unlink(name)
        except OSError as e:
            self.unlock()
            raise LwlcError(f"cannot write in {self.path}: {e.strerror or e}",
                            hint="the run's files are written there after each epoch: fix "
                            "the folder's permissions or free space, or give another --out"
                            ) from None

    def unlock(self) -> None:
        """Release the lock. A directory this run created and left empty (it failed before
        writing anything) goes too; the lock file is removed while still held, so no
        other process can have taken it."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            with contextlib.suppress(OSError):  # (the folder may have gone)
                if self._created and [p.name for p in self.path.iterdir()] == [LOCK]:
                    self.file(LOCK).unlink()
                    self.path.rmdir()
            os.close(self._fd)  # releases the flock
            self._fd = None

    def still_here(self) -> None:
        """Refuse to write into DIR when it is no longer the folder this run locked (removed,
        moved or replaced during the run): each write re-created it, without its record or
        lock, and a second run could take it over and mix its epochs in."""
        if self._fd is None:
            return
        held = os.fstat(self._fd)
        try:
            now = os.stat(self.file(LOCK))
            same = (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)
        except OSError:
            same = False
        if not same:
            raise LwlcError(f"the run folder {self.path} was removed, moved or replaced during "
                            "the run: its epochs are not written there",
                            hint="the epochs written before are where the folder went; "
                            "train again, or continue a moved folder with --resume there")

    # what is there

    def outputs(self) -> list[str]:
        return [n for n in OUTPUTS if self.file(n).exists()]

    def has_record(self) -> bool:
        return self.file(RUN).exists()

    def refuse_other_kind(self, kind: Literal["run", "restarts"]) -> None:
        """One folder holds one kind of result: a training run's, or `--restarts`'.
        Writing the other kind there (even with --overwrite) would mix them."""
        restarts = any(self.file(name).exists() for name in RESTARTS)
        run = bool(self.outputs()) or self.has_record()
        if restarts if kind == "run" else run:
            held = ("the results of lwlc train --restarts" if kind == "run"
                    else "a training run, not restarts")
            raise LwlcError(f"{self.path} holds {held}",
                            hint=f"give the {'run' if kind == 'run' else 'restarts'} another "
                            "--out: one folder holds one kind of result")

    def describe(self) -> str:
        """'3 epochs of model majority' or 'the files params.npz, log.csv', for messages."""
        with contextlib.suppress(Exception):
            _, meta = read_params(self.file(PARAMS))
            return f"{int(meta['epochs'])} epoch(s) of model {meta['model']}"
        return "its " + ", ".join(self.outputs() or [RUN])

    def clear(self) -> None:
        """--overwrite: set the run's files aside (renamed to hidden ``.NAME.replaced``),
        their names first recorded in ``.replaced``. The new run drops them once it has
        written its first epoch (`drop_replaced`); one that stops before puts them back
        (`restore_replaced`), so a failed --overwrite loses nothing. What can be seen to
        fail (a folder in a file's place, a folder the user may not write) is refused
        before anything is moved; a move that fails puts back those moved before it."""
        self.refuse_folders((*OUTPUTS, RUN), "a run's file")
        if any(self.file(n).exists() for n in (*OUTPUTS, RUN)) and \
                not os.access(self.path, os.W_OK | os.X_OK):
            raise LwlcError(f"--overwrite: cannot move the run's files in {self.path} aside: "
                            "permission denied; nothing was changed",
                            hint="fix the folder's permissions, or give another --out")
        from .files import interrupts_held

        with interrupts_held():
            self.drop_replaced()  # of an earlier --overwrite, settled (settle_replaced)
            held = [n for n in (*OUTPUTS, RUN)
                    if _present(self.file(n))]
            if not held:
                return self.clear_partial()
            try:
                self._write_manifest(held)
                for name in held:
                    os.replace(self.file(name), self.replaced(name))
            except OSError as e:
                self.restore_replaced()
                raise LwlcError(f"--overwrite: cannot move {self.file(name)} aside: "
                                f"{e.strerror or e}; nothing was changed",
                                hint="fix the folder's permissions and run the command "
                                "again, or give another --out") from None
        self.clear_partial()

    # The files of the run an --overwrite replaces, until the new run's first epoch. Every
    # step can be interrupted (kill -9) and done again by the next `lwlc train` in DIR
    # (`settle_replaced`): `.replaced` lists the files the old run had; params.npz is put
    # back last and dropped last, so a params.npz beside its `.replaced` copy is the new
    # run's checkpoint, and one without it is the old run's, put back.
    MANIFEST = ".replaced"

    def replaced(self, name: str) -> Path:
        """Where --overwrite keeps the file `name` of the run it replaces."""
        return self.file(f".{name}.replaced")

    def _write_manifest(self, names: list[str]) -> None:
        from .driver import atomic_write_text

        atomic_write_text(self.file(self.MANIFEST), "".join(f"{n}\n" for n in names))

    def _manifest(self) -> list[str] | None:
        try:
            text = self.file(self.MANIFEST).read_text()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError):
            text = ""
        return [n for n in text.split() if n in (*OUTPUTS, RUN)]

    def holds_replaced(self) -> bool:
        return self._manifest() is not None

    def keep_replaced_modes(self) -> None:
        """The new run's files take the permissions of those they replace (a private run
        stays private); each later write of a file keeps its mode (files.publish)."""
        for name in (*OUTPUTS, RUN):
            old, new = self.replaced(name), self.file(name)
            with contextlib.suppress(OSError):
                if not old.is_symlink() and not new.is_symlink() and new.exists():
                    os.chmod(new, stat.S_IMODE(old.stat().st_mode))

    def drop_replaced(self) -> None:
        """The replaced run's files go: the new run has its first checkpoint (or ended)."""
        if self._manifest() is None:
            return
        for name in (RUN, LOG, SUMMARY, PARAMS):  # params.npz last: see MANIFEST
            with contextlib.suppress(FileNotFoundError):
                self.replaced(name).unlink()
        with contextlib.suppress(FileNotFoundError):
            self.file(self.MANIFEST).unlink()

    def restore_replaced(self) -> bool:
        """Put the replaced run back as it was, the new run's files removed; True if there
        was one. Called when the new run stops before its first checkpoint, and when a
        run directory is found holding both (an --overwrite killed before that); done
        again from where it stopped if it is itself interrupted."""
        names = self._manifest()
        if names is None:
            return False
        from .files import interrupts_held

        with interrupts_held():
            for name in (RUN, LOG, SUMMARY, PARAMS):  # params.npz last: see MANIFEST
                if name in names:
                    if _present(self.replaced(name)):
                        os.replace(self.replaced(name), self.file(name))
                elif _present(self.file(name)):  # the new run's, where the old had none
                    self.file(name).unlink()
            self.file(self.MANIFEST).unlink()
        return True

    def settle_replaced(self) -> str | None:
        """A run directory an --overwrite was stopped in without its own clean-up (killed):
        the replaced run's files are put back if the new run wrote no checkpoint, else
        dropped. Returns a note, or None."""
        names = self._manifest()
        if names is None:
            return None
        new_checkpoint = _present(self.file(PARAMS)) and (
            PARAMS not in names or _present(self.replaced(PARAMS)))
        if new_checkpoint:
            self.drop_replaced()
            return None
        self.restore_replaced()
        return (f"{self} held the files of a run that an --overwrite stopped before its "
                "first epoch: they are back in place")

    def refuse_folders(self, names, what: str) -> None:
        """--overwrite would remove these files first: a folder in one's place is refused
        before anything is removed (the old results went, then the write failed)."""
        for name in names:
            p = self.file(name)
            if p.is_dir() and not p.is_symlink():
                raise LwlcError(f"--overwrite: {p} is a folder, not {what}; nothing was "
                                "removed", hint="move it away, or give another --out")

    def clear_partial(self) -> None:
        for name in (RUN, *OUTPUTS):
            for p in self.path.glob(f".{name}.*.part"):
                with contextlib.suppress(OSError):
                    p.unlink()

    # the record

    def write_record(self, record: dict) -> None:
        from .driver import atomic_write_text

        try:
            atomic_write_text(self.file(RUN), json.dumps(record, indent=2) + "\n")
        except OSError as e:
            raise LwlcError(f"cannot write {self.file(RUN)}: {e.strerror or e}") from None

    def read_record(self) -> dict:
        path = self.file(RUN)
        hint = f"it may be damaged; restore it, or {START_OVER}"
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise DataError(f"{path} is missing: nothing says what the run in {self.path} was, "
                            "so --resume cannot check that it continues the same run",
                            hint=START_OVER) from None
        except OSError as e:
            raise DataError(f"cannot read {path}: {e.strerror or e}") from None
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise DataError(f"{path} is not a run record written by lwlc train ({_short(e)})",
                            hint=hint) from None
        if not isinstance(record, dict):
            raise DataError(f"{path} is not a run record written by lwlc train (not a JSON "
                            "object)", hint=hint)
        for key, kind in REQUIRED.items():
            value = record.get(key)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                why = "missing" if key not in record else f"not a {kind.__name__}"
                raise DataError(f"{path} is not a run record written by lwlc train ('{key}' "
                                f"is {why})", hint=hint)
        if record["format"] != FORMAT:
            raise DataError(f"{path} has format {record['format']}; this lwlc reads format "
                            f"{FORMAT}", hint=START_OVER)
        for key in ("train_data", "test_data"):
            v = record.get(key)
            if v is not None and not (isinstance(v, dict) and isinstance(v.get("sha256"), str)
                                      and isinstance(v.get("spec"), str)):
                raise DataError(f"{path} is not a run record written by lwlc train ('{key}' is "
                                "not a data record)", hint=hint)
        return record

    # the checkpoint

    def read_checkpoint(self, rid: str, model: str, wanted: dict) -> Checkpoint:
        """The last completed epoch, every file checked against the others.

        params.npz is the checkpoint (written last each epoch): its metadata names the run and
        hashes the log and summary written with it. Log rows and a summary one epoch ahead of
        it (an epoch interrupted between its writes) are dropped: that epoch runs again.
        """
        cp = Checkpoint()
        damaged = f"it may be truncated or damaged; {START_OVER}"
        ppath = self.file(PARAMS)
        if ppath.exists():
            params, meta = read_params(ppath, hint=damaged)
            for key, kind in (("epochs", int), ("iterations", int), ("seconds", (int, float)),
                              ("model", str), ("run", str), ("log_sha256", str)):
                if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
                    raise DataError(f"{ppath}: its metadata has no valid '{key}'",
                                    hint=damaged if key not in ("run", "log_sha256") else
                                    f"it was not written by a run of this lwlc; {START_OVER}")
            if meta["run"] != rid:
                raise DataError(f"{ppath} belongs to another run: it was written by run "
                                f"{meta['run']}, but {self.file(RUN)} defines run {rid}",
                                hint=f"one of the two was replaced (copied from another run "
                                f"directory?) or damaged; {START_OVER}")
            if meta["model"] != model or meta["epochs"] < 1:
                raise DataError(f"{ppath}: its metadata says model {meta['model']!r}, epoch "
                                f"{meta['epochs']}; the run is of model {model!r}", hint=damaged)
            check_params(params, wanted, ppath, model)
            cp.epochs, cp.params, cp.meta = meta["epochs"], params, meta
        lpath = self.file(LOG)
        if lpath.exists():
            try:
                raw = lpath.read_bytes()
            except OSError as e:
                raise DataError(f"cannot read {lpath}: {e.strerror or e}") from None
            rows, lines = parse_log(lpath, raw)
            if len(rows) < cp.epochs:
                raise DataError(f"{lpath} has {len(rows)} epoch row(s) but {ppath} is at epoch "
                                f"{cp.epochs}: the log lost part of the run's history",
                                hint=f"restore it, or {START_OVER}")
            if cp.epochs and sha256_bytes("".join(lines[:cp.epochs + 1]).encode()) \
                    != cp.meta["log_sha256"]:
                raise DataError(f"{lpath} and {ppath} do not belong together: the log's first "
                                f"{cp.epochs} row(s) do not match the hash {PARAMS} recorded "
                                f"at epoch {cp.epochs}",
                                hint=f"one of them was changed, or copied from another run or "
                                f"epoch; restore it, or {START_OVER}")
            if len(rows) > cp.epochs + 1 and not ppath.exists():
                raise DataError(f"{ppath} is missing: the run's checkpoint is lost ({lpath} "
                                f"has {len(rows)} epoch rows)", hint=f"restore it, or "
                                f"{START_OVER}")
            if len(rows) > cp.epochs + 1:
                raise DataError(f"{lpath} has {len(rows)} epoch rows but {ppath} is at epoch "
                                f"{cp.epochs}", hint=damaged)
            if len(rows) > cp.epochs:
                cp.notes.append(f"{lpath}: dropped the row of epoch {cp.epochs + 1}, whose "
                                f"{PARAMS} was never written (an interrupted run); it runs again")
            cp.rows = rows[:cp.epochs]
        elif cp.epochs:
            raise DataError(f"{lpath} is missing: the per-epoch history of the run's "
                            f"{cp.epochs} epoch(s) is lost", hint=f"restore it, or {START_OVER}")
        spath = self.file(SUMMARY)
        if spath.exists():
            try:
                raw = spath.read_bytes()
                summary = json.loads(raw.decode("utf-8"))
            except OSError as e:
                raise DataError(f"cannot read {spath}: {e.strerror or e}") from None
            except (UnicodeDecodeError, ValueError) as e:
                raise DataError(f"{spath} is not a run summary written by lwlc train "
                                f"({_short(e)})", hint=damaged) from None
            if not isinstance(summary, dict) or not isinstance(summary.get("epochs"), int):
                raise DataError(f"{spath} is not a run summary written by lwlc train (no "
                                "'epochs')", hint=damaged)
            if summary["epochs"] == cp.epochs and cp.epochs:
                if sha256_bytes(raw) != cp.meta.get("summary_sha256"):
                    raise DataError(f"{spath} was changed after epoch {cp.epochs} was written (it "
                                    f"does not match the summary hash in {ppath})", hint=damaged)
                cp.summary = summary
            elif summary["epochs"] != cp.epochs + 1 or summary.get("model") != model:
                raise DataError(f"{spath} says epoch {summary['epochs']} of model "
                                f"{summary.get('model')!r}, but {ppath} is at epoch "
                                f"{cp.epochs} of {model!r}", hint=damaged)
        return cp
