"""Before a run allocates: will its RRR state fit in the memory it has?

The state is every variable's values for every batch item; an RRR iteration keeps about
`COPIES` states alive at once (the state, P_A, the reflection, P_B, the difference, the update).
The memory available is the host's (``/proc/meminfo`` MemAvailable, a cgroup limit if lower,
else ``os.sysconf``) or, for the JAX backend on accelerators, the free memory of the devices
the batch is sharded over. ``LWLC_MEMORY_CHECK=0`` skips the check.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import LwlcError

COPIES = 6


def _fmt(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} bytes"


def state_values(model) -> tuple[int, int]:
    """(values per batch item, values shared by all items) of a model's RRR state."""
    per_item = sum(v.size for v in model.variables.values() if v.batched)
    shared = sum(v.size for v in model.variables.values() if not v.batched)
    return per_item, shared


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _address_space_left() -> int | None:
    """Bytes the process may still map under its RLIMIT_AS (`ulimit -v`); None without a
    limit or off Linux."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/status", encoding="ascii") as fh:
            mapped = next(int(line.split()[1]) * 1024 for line in fh
                          if line.startswith("VmSize:"))
    except (ImportError, OSError, ValueError, IndexError, StopIteration):
        return None
    return max(0, limit - mapped)


def host_available() -> tuple[int | None, str]:
    """Bytes of host memory a new allocation can get, and where that figure comes from."""
    avail, where = None, ""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail, where = int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            where = "free physical pages (os.sysconf)"
        except (OSError, ValueError, AttributeError):
            return None, "unknown"
    room = _address_space_left()
    if room is not None and room < avail:
        avail, where = room, "the address-space limit (ulimit -v) less what the process maps"
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < (1 << 60):
            if limit - usage < avail:
                avail, where = max(0, limit - usage), f"the cgroup limit ({limit_file})"
            break
    return avail, where


def device_available(solver) -> tuple[int | None, str, int]:
    """Free memory of the devices a JAX solver shards the batch over (None on CPU devices)."""
    if not hasattr(solver, "mesh"):
        return None, "", 1
    try:
        devices = list(solver.mesh().devices.flat)
    except Exception:  # no JAX devices to ask: the host check stands
        return None, "", 1
    if not devices or devices[0].platform == "cpu":
        return None, "", len(devices) or 1
    total = 0
    for d in devices:
        try:
            stats = d.memory_stats() or {}
        except Exception:
            return None, "", len(devices)
        if "bytes_limit" not in stats:
            return None, "", len(devices)
        total += max(0, int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)))
    return total, f"free memory of {len(devices)} {devices[0].platform.upper()} device(s)", \
        len(devices)


def check_memory(model, solver, dtype: str, backend: str, data_bytes: int = 0) -> None:
    """Refuse, with the estimate and what to change, a run whose state cannot fit."""
    if os.environ.get("LWLC_MEMORY_CHECK", "1") == "0":
        return
    per_item, shared = state_values(model)
    K = model.batch.size
    width = 4 if dtype == "float32" else 8
    need = (per_item * K + shared) * width * COPIES
    avail, where, n_dev = device_available(solver) if backend == "jax" else (None, "", 1)
    if avail is None:
        avail, where = host_available()
    if avail is None or need <= avail:
        return
    fits = max(0, (avail // (width * COPIES) - shared) // max(1, per_item))
    parts = model.batch.parts
    size = (f"{parts[0].name} = {K} items" if len(parts) == 1
            else "batch " + " + ".join(f"{p.name} {p.size}" for p in parts) + f" = {K} items")
    data = f", besides the {_fmt(data_bytes)} of data already loaded" if data_bytes else ""
    hints = [f"a smaller batch (--set {parts[0].name if len(parts) == 1 else 'PART'}=N: "
             f"about {fits} items fit)"]
    if width == 8:
        hints.append("--backend jax --dtype float32 (half the bytes)")
    hints.append("more devices (--backend jax shards the batch over all GPUs it sees)"
                 if n_dev == 1 else f"more than {n_dev} devices")
    raise LwlcError(
        f"the RRR state of model {model.name} needs about {_fmt(need)} ({size} × {per_item} "
        f"values × {width} bytes × about {COPIES} copies an iteration keeps), but only "
        f"{_fmt(avail)} is available ({where}){data}",
        hint="use " + ", or ".join(hints) + "; LWLC_MEMORY_CHECK=0 skips this check")


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def reuse_freed_memory() -> bool:
    """Have glibc's malloc keep large freed blocks for the next allocation, instead of
    giving each back to the kernel (mallopt M_MMAP_THRESHOLD and M_TRIM_THRESHOLD at
    2 GB). A NumPy RRR step allocates its arrays of the state's size anew (P_A, the
    reflection, P_B, the update); by default each above 32 MB is a fresh mapping whose
    pages fault in on first touch. For NumPy MNIST 784-20-10 (float64, batch 1000)
    that was half of every iteration: 0.59 against 0.28-0.34 s (docs/performance.md).
    The process keeps its high-water mark of memory instead. Called by `lwlc train`
    and `make bench`; a process that imports an emitted solver itself can call it too.
    Returns whether the allocator took the settings (False off glibc)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    big = 2**31 - 1  # mallopt takes a C int
    return bool(mallopt(_M_MMAP_THRESHOLD, big)) and bool(mallopt(_M_TRIM_THRESHOLD, big))
