"""What a lane step split over two cores would pay to move its state between them.

The lane kernel keeps a small model's whole state in one core's L2 (majority 13-26-2 in
float32: S and P_A, 428 KB each). Splitting each step's set B over two threads would have
the second core read and write rows that the first core's set A has just written, every
step. This probe times one read-and-write pass over half of such a state (428 KB) on one
core, right after a pass over all of it on the same core, and right after one on the
other core, alternated, and prints the median of each (docs/performance.md, "The lane
kernel, session 30").

    .venv/bin/python bench/cross_core_probe.py [--rounds 400]

Linux only (it pins its threads with os.sched_setaffinity); needs two cores.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numba
import numpy as np

STATE_BYTES = 2 * 428 * 1024  # majority 13-26-2 float32: S and P_A


@numba.njit(nogil=True)
def _touch(a, lo, hi):
    """Read and write a[lo:hi] once (a multiply-add per element)."""
    for i in range(lo, hi):
        a[i] = a[i] * np.float32(1.0000001) + np.float32(1e-7)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=400)
    args = ap.parse_args(argv)
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("cross_core_probe: needs two cores")
    cores = sorted(os.sched_getaffinity(0))[:2]
    a = np.ones(STATE_BYTES // 4, np.float32)
    half = a.size // 2
    _touch(a, 0, a.size)  # (compiles)
    go = [threading.Event(), threading.Event()]
    done = [threading.Event(), threading.Event()]
    stop = threading.Event()

    def writer(which: int) -> None:  # a pass over the whole state, as set A's ops make
        os.sched_setaffinity(0, {cores[which]})
        while True:
            go[which].wait()
            go[which].clear()
            if stop.is_set():
                return
            _touch(a, 0, a.size)
            done[which].set()

    threads = [threading.Thread(target=writer, args=(w,)) for w in (0, 1)]
    for t in threads:
        t.start()
    os.sched_setaffinity(0, {cores[1]})  # the timed passes run on the second core
    times: dict[str, list[float]] = {"the same core wrote it last": [],
                                     "the other core wrote it last": []}
    try:
        for rnd in range(args.rounds):
            last = rnd % 2  # which core's writer ran the pass before the timed one
            go[last].set()
            done[last].wait()
            done[last].clear()
            t0 = time.perf_counter()
            _touch(a, 0, half)
            elapsed = time.perf_counter() - t0
            key = "the same core wrote it last" if last == 1 else "the other core wrote it last"
            times[key].append(elapsed * 1e6)
    finally:
        stop.set()
        for g in go:
            g.set()
        for t in threads:
            t.join()
    for key, v in times.items():
        print(f"read and write {half * 4 // 1024} KB, {key}: median {np.median(v[5:]):.1f} µs "
              f"({len(v)} passes)")


if __name__ == "__main__":
    main()
