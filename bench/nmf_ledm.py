"""Elser Table 1: exact NMF of LEDM(m) from many random starts.

    .venv/bin/python bench/nmf_ledm.py --m 6 --r 5 --omega 0.6 --seeds 20 --backend jax

Each seed is one RRR run (beta 0.3, one batch holding the whole matrix) until RRR_err < 1e-5 or
the iteration cap; a run counts as solved when factor_rmse (eq. 23) < 1e-4. Prints one line per
seed, then the success count and the median iterations of the solved runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lwlc.driver import TrainConfig, train  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m", type=int, default=6)
    ap.add_argument("--r", type=int, default=5)
    ap.add_argument("--omega", type=float, default=0.6)
    ap.add_argument("--beta", type=float, default=0.3)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--cap", type=float, default=1e7, help="iteration cap per run")
    ap.add_argument("--chunk", type=float, default=1e5, help="iterations per reported epoch")
    ap.add_argument("--backend", default="jax", choices=["numpy", "jax"])
    args = ap.parse_args()
    chunk = int(min(args.chunk, args.cap))
    epochs = max(1, int(args.cap // chunk))
    solved_iters = []
    n_solved = 0
    print(f"LEDM({args.m}) r+ {args.r} omega {args.omega} beta {args.beta} cap {args.cap:.0e} "
          f"backend {args.backend}")
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        t0 = time.perf_counter()
        overrides = {"m": args.m, "r": args.r, "omega": args.omega, "beta": args.beta,
                     "iterations": chunk, "epochs": epochs}
        cfg = TrainConfig(model=str(ROOT / "models" / "nmf_ledm.lwl"), overrides=overrides,
                          seed=seed, backend=args.backend, progress=False, quiet=True,
                          stop_when_solved=True)
        s = train(cfg)
        ok = s["factor_rmse"] < 1e-4
        n_solved += ok
        if ok:
            solved_iters.append(s["iterations"])
        print(f"seed {seed:>3}: {'solved' if ok else 'FAILED':<6} iterations {s['iterations']:>9} "
              f"factor_rmse {s['factor_rmse']:.2e} rrr_err {s['rrr_err']:.2e} "
              f"{time.perf_counter() - t0:7.1f} s", flush=True)
    med = statistics.median(solved_iters) if solved_iters else float("nan")
    print(f"solved {n_solved}/{args.seeds}; median iterations of solved runs {med:.3g}")


if __name__ == "__main__":
    main()
