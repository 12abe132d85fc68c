"""Every shipped model, trained briefly with each backend and precision: does it train?

    .venv/bin/python bench/all_models.py                      # JAX float32 and float64
    .venv/bin/python bench/all_models.py --backends numpy jax:float32
    .venv/bin/python bench/all_models.py --only majority nmf_ledm

Each model runs with a short protocol of its own (below): the paper's full-size data where one
epoch takes seconds, scikit-learn's 8x8 digits for the MNIST-sized models (`pixels=64`). Prints
one row per (model, backend): epochs, RRR iterations, run seconds, compile seconds and the
model's final metrics. Nothing here is a pass/fail threshold; the figures are for the record.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lwlc.driver import TrainConfig, metric_keys, train  # noqa: E402

# model: (data spec or None for the model's own, overrides)
PROTOCOLS: dict[str, tuple[str | None, dict]] = {
    "majority": (None, {"epochs": 5}),
    "majority3": (None, {"epochs": 5}),
    "majority4": (None, {"epochs": 5}),
    "relabel": (None, {"epochs": 5}),
    "fpa_classifier": (None, {"epochs": 2, "iterations": 200}),
    "nmf_ledm": (None, {"seed": 1, "iterations": 500_000}),
    "binary_autoencoder": (None, {"epochs": 5}),
    "mnist_exempt": ("digits:seed=0", {"pixels": 64, "width": 20, "batch": 300, "epochs": 3}),
    "pjax_mlp": ("digits:seed=0", {"pixels": 64, "width": 64, "batch": 128, "epochs": 3}),
    "mnist_autoencoder": ("digits:seed=0", {"pixels": 64, "width": 64, "codes": 10,
                                            "epochs": 3}),
    "digits_leaky": (None, {"epochs": 3}),
    "digits_softplus": (None, {"epochs": 3}),
}
FOLDERS = ("models", "docs/examples")  # the shipped models and the documented ones



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", nargs="+", default=["jax:float32", "jax:float64"],
                    help="BACKEND[:DTYPE] entries, e.g. numpy jax:float32")
    ap.add_argument("--only", nargs="+", default=None, help="model names (default: all)")
    ap.add_argument("--epochs", type=int, default=None, help="cap every protocol's epochs")
    ap.add_argument("--iterations", type=int, default=None,
                    help="cap RRR iterations per batch (a quick does-it-train pass)")
    args = ap.parse_args()
    paths = {p.stem: p for folder in FOLDERS for p in sorted((ROOT / folder).glob("*.lwl"))}
    names = args.only or list(paths)
    print(f"{'model':<20} {'backend':<14} {'epochs':>6} {'iters':>9} {'run s':>8} "
          f"{'compile s':>9}  metrics")
    for name in names:
        spec, overrides = PROTOCOLS.get(name, (None, {"epochs": 2}))
        overrides = dict(overrides)
        if args.epochs is not None:
            overrides["epochs"] = min(overrides.get("epochs", args.epochs), args.epochs)
        if args.iterations is not None:
            overrides["iterations"] = args.iterations
        for entry in args.backends:
            backend, _, dtype = entry.partition(":")
            with tempfile.TemporaryDirectory() as tmp:
                cfg = TrainConfig(model=str(paths[name]), data=spec,
                                  overrides=dict(overrides), backend=backend,
                                  dtype=dtype or "float64", out=tmp, progress=False,
                                  quiet=True)
                s = train(cfg)
            metrics = "  ".join(f"{k} {s[k]:.4g}" for k in metric_keys(s))
            print(f"{name:<20} {entry:<14} {s['epochs']:>6} {s['iterations']:>9} "
                  f"{s['seconds']:>8.1f} {s.get('compile_seconds', 0.0):>9.1f}  {metrics}",
                  flush=True)


if __name__ == "__main__":
    main()
