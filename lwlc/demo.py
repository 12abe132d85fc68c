"""`make demo`: check every shipped model, then compile and train two of them.

1. `lwlc check` on every model in models/ (parse, elaborate, split).
2. LEDM m = 6 exact NMF (Elser Table 1): one batch, RRR until RRR_err < 1e-5.
3. The depth-2 majority-gate classifier (Sect. 5.5.1) on generated circuit data, a few epochs.

Both train with the JAX backend (the whole per-batch RRR loop compiled); `lwlc train
--backend numpy` runs the float64 reference instead.

Outputs go to runs/demo/ (run.json, params.npz, log.csv, summary.json per model), replacing
the previous demo's runs there.
"""

from __future__ import annotations

import sys
import time
from importlib import resources
from pathlib import Path

from rich.console import Console

from .driver import TrainConfig, metric_keys, train
from .elaborate import load_model
from .errors import LwlcError
from .split import split

# models/ at the repository's top level, installed as the package lwlc.models
MODELS = Path(str(resources.files("lwlc.models")))


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m lwlc.demo", description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)  # --help, and nothing else: it took every argument as none
    console = Console(highlight=False, soft_wrap=True, emoji=False)
    models = sorted(MODELS.glob("*.lwl"))
    console.print(f"[bold]1. lwlc check[/bold] on the {len(models)} shipped models")
    for path in models:
        try:
            m = load_model(path)
            plan = split(m)
            edges = sum(len(e) for e in m.edge_sets.values())
            console.print(f"  ok  {path.name:<24} {m.n_nodes:>5} nodes {edges:>7} edges  "
                          f"A = {', '.join(plan.A)}  B = {', '.join(plan.B)}", markup=False)
        except LwlcError as e:
            console.print(e.format(), markup=False)
            return 1
    out = Path("runs") / "demo"
    runs = [
        ("2. exact NMF of LEDM(6), Elser Table 1 (beta 0.3, omega 0.6, r+ 5)",
         TrainConfig(model=str(MODELS / "nmf_ledm.lwl"), out=str(out / "nmf_ledm"),
                     seed=17, backend="jax", progress=False, overwrite=True)),
        ("3. majority-gate classifier 13-26-2 on generated depth-2 circuit data",
         TrainConfig(model=str(MODELS / "majority.lwl"),
                     data="majority:inputs=13,depth=2,seed=1",
                     test="majority:inputs=13,depth=2,seed=1", epochs=3, backend="jax",
                     out=str(out / "majority"), progress=True, overwrite=True)),
    ]
    for title, cfg in runs:
        console.print(f"\n[bold]{title}[/bold]")
        t0 = time.perf_counter()
        try:
            s = train(cfg, console=console)
        except LwlcError as e:
            console.print(e.format(), markup=False)
            return 1
        keys = ("iterations", "gwm", "wm_per_s", "rrr_err", *metric_keys(s))
        shown = {k: s[k] for k in keys if k in s}
        console.print("  " + ", ".join(f"{k} = {v:.4g}" for k, v in shown.items()),
                      markup=False)
        console.print(f"  {time.perf_counter() - t0:.1f} s; outputs in {cfg.out}", markup=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
