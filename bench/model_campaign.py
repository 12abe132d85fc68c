"""A long stress campaign of the compiler on generated models (tests/modelgen.py).

Model i of a campaign is `draw_model(seed + i)`: the same seed gives the same models. Each is
checked by the front end, compiled with each backend, run a few RRR steps on random data and
compared NumPy vs JAX (`modelgen.exercise`). Prints a line per model, then the figures: models
tried, accepted by the front end, compiled per backend, passed, refused by the compiler, and
the failures grouped by kind (stage, exception type, first line of the message with names and
numbers blanked), with the smallest failing model of each kind saved to the examples folder.
Each model runs in a worker process (recycled every --recycle models): a model that kills the
process (an XLA abort, memory exhausted) or runs over --timeout is a failure of kind
"worker: Crash", and the campaign goes on. Prints figures, asserts nothing.

    .venv/bin/python bench/model_campaign.py --models 300 --seed 0 --out runs/campaign.json
    .venv/bin/python bench/model_campaign.py --models 1 --seed 1234     # rerun one model
    .venv/bin/python bench/model_campaign.py --models 1000 --backends numpy --iterations 20
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import multiprocessing as mp
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from modelgen import draw_model, exercise, normalize  # noqa: E402


def _slug(kind: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", kind).strip("_")[:60] or "kind"


def _write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    tmp.replace(path)


def _commented(text: str, header: list[str]) -> str:
    lines = []
    for h in header:
        lines += ["# " + ln for ln in h.splitlines()]
    return "\n".join(lines) + "\n" + text


# --- the worker: models run in a child process, so that a crash, a hang or runaway memory of
# one model (XLA can abort or exhaust memory) is one failure, not the end of the campaign ------


def _serve(conn, options: dict) -> None:
    """Child process: exercise each model text received until None."""
    while True:
        job = conn.recv()
        if job is None:
            return
        text, seed = job
        conn.send(exercise(text, seed=seed, **options))


class Worker:
    def __init__(self, options: dict, recycle: int):
        self.ctx = mp.get_context("spawn")  # never fork a process that holds JAX threads
        self.options = options
        self.recycle = recycle
        self.proc = None
        self.conn = None
        self.served = 0

    def start(self) -> None:
        parent, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_serve, args=(child, self.options), daemon=True)
        self.proc.start()
        child.close()
        self.conn, self.served = parent, 0

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            self.conn.send(None)
            self.proc.join(10)
        except (OSError, BrokenPipeError):
            pass
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.proc = None

    def run(self, text: str, seed: int, timeout: float) -> dict:
        if self.proc is None or self.served >= self.recycle:
            self.stop()
            self.start()
        self.served += 1
        self.conn.send((text, seed))
        if self.conn.poll(timeout):
            try:
                return self.conn.recv()
            except (EOFError, OSError):
                pass
            self.proc.join(5)
            why = f"the worker process died (exit code {self.proc.exitcode})"
        else:
            why = f"the model ran over {timeout:g} s"
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.proc = None
        kind = "worker: Crash: " + normalize(why)
        return {"status": "failed", "rejected": None, "refused": {}, "refused_kinds": {},
                "backends": {}, "notes": [], "seconds": timeout,
                "failures": [{"backend": "?", "stage": "worker", "type": "Crash",
                              "message": why, "kind": kind, "traceback": ""}]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=int, default=200, help="how many models (default 200)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the first model (default 0)")
    ap.add_argument("--backends", default="numpy,jax", help="comma-separated (default numpy,jax)")
    ap.add_argument("--iterations", type=int, default=3, help="RRR steps per model (default 3)")
    ap.add_argument("--no-solve-batch", action="store_true", help="skip solve_batch")
    ap.add_argument("--eager", action="store_true", help="JAX rrr_step op by op, not jitted")
    ap.add_argument("--out", default="runs/model_campaign.json",
                    help="the JSON report (default runs/model_campaign.json)")
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds per model before it counts as hung (default 600)")
    ap.add_argument("--recycle", type=int, default=40,
                    help="a fresh worker process after this many models (default 40)")
    ap.add_argument("--in-process", action="store_true",
                    help="run the models in this process (no crash or hang protection)")
    ap.add_argument("--examples", default=None,
                    help="folder for one example model per failure kind "
                         "(default: beside --out, <out>_examples)")
    args = ap.parse_args(argv)
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    examples = Path(args.examples) if args.examples else out.with_name(out.stem + "_examples")
    examples.mkdir(parents=True, exist_ok=True)

    rows = []
    kinds: dict[str, dict] = {}  # failure kind -> count, seeds, example, ...
    refusals: dict[str, dict] = collections.defaultdict(lambda: {"count": 0, "seeds": []})
    rejections: dict[str, dict] = collections.defaultdict(lambda: {"count": 0, "seeds": []})
    compiled = collections.Counter()
    status = collections.Counter()
    t_start = time.perf_counter()
    config = {"models": args.models, "seed": args.seed, "backends": backends,
              "iterations": args.iterations, "solve_batch": not args.no_solve_batch,
              "jax_jit": not args.eager, "cwd": os.getcwd()}

    def report():
        return {"config": config, "elapsed_s": round(time.perf_counter() - t_start, 1),
                "tried": len(rows), "status": dict(status), "compiled": dict(compiled),
                "failure_kinds": kinds, "refusal_kinds": dict(refusals),
                "rejection_kinds": dict(rejections), "models": rows}

    options = {"backends": backends, "iterations": args.iterations,
               "solve_batch": not args.no_solve_batch, "jax_jit": not args.eager}
    worker = None if args.in_process else Worker(options, args.recycle)
    for i in range(args.models):
        seed = args.seed + i
        text, facts = draw_model(seed)
        if worker is None:
            result = exercise(text, seed=seed, **options)
        else:
            result = worker.run(text, seed, args.timeout)
        status[result["status"]] += 1
        status["noted"] += bool(result["notes"])
        for b, info in result["backends"].items():
            compiled[b] += bool(info.get("compiled"))
        seen = set()
        for f in result["failures"]:
            k = f["kind"]
            entry = kinds.setdefault(k, {"count": 0, "models": 0, "seeds": [], "backends": [],
                                         "stage": f["stage"], "type": f["type"],
                                         "message": f["message"][:2000], "features": None,
                                         "example_seed": None, "example_chars": None,
                                         "traceback": f["traceback"]})
            entry["count"] += 1
            if f["backend"] not in entry["backends"]:
                entry["backends"].append(f["backend"])
            if k in seen:
                continue
            seen.add(k)
            entry["models"] += 1
            entry["seeds"].append(seed)
            feats = set(facts["features"]) | {f"kind:{facts['kind']}"}
            entry["features"] = sorted(feats if entry["features"] is None
                                       else set(entry["features"]) & feats)
            if entry["example_chars"] is None or len(text) < entry["example_chars"]:
                entry.update(example_seed=seed, example_chars=len(text),
                             message=f["message"][:2000], traceback=f["traceback"])
                entry["example_file"] = str(examples / f"fail_{_slug(k)}.lwl")
                Path(entry["example_file"]).write_text(_commented(text, [
                    f"failure kind: {k}", f"backend: {f['backend']}  seed: {seed}",
                    "message: " + f["message"][:1500], f["traceback"][-3000:]]))
        for b, msg in result["refused"].items():
            r = refusals[result["refused_kinds"].get(b) or normalize(msg)]
            r["count"] += 1
            r["seeds"].append(seed)
            if "example" not in r or len(text) < len(r["example_text"]):
                r.update(example=msg, example_text=text, backend=b)
        if result["rejected"]:
            r = rejections[normalize(result["rejected"])]
            r["count"] += 1
            r["seeds"].append(seed)
            if "example" not in r:
                r.update(example=result["rejected"], example_text=text)
                (examples / f"rejected_seed{seed}.lwl").write_text(
                    _commented(text, [result["rejected"]]))
        rows.append({"seed": seed, "kind": facts["kind"], "status": result["status"],
                     "seconds": result["seconds"], "failures": [f["kind"] for f in
                                                                result["failures"]],
                     "refused": result["refused_kinds"],
                     "notes": result["notes"],
                     "features": facts["features"],
                     "backend_seconds": {b: v.get("seconds") for b, v in
                                         result["backends"].items()}})
        first = result["failures"][0]["kind"] if result["failures"] else (
            next(iter(result["refused_kinds"].values())) if result["refused"] else "")
        print(f"[{i + 1}/{args.models}] seed {seed} {facts['kind']:<21} {result['status']:<8} "
              f"{result['seconds']:6.2f}s  {first[:110]}", flush=True)
        if (i + 1) % 10 == 0 or i + 1 == args.models:
            _write_json(out, report())
        if worker is None and (i + 1) % 25 == 0:
            if "jax" in backends:
                import jax

                jax.clear_caches()
            gc.collect()
    if worker is not None:
        worker.stop()

    rep = report()
    _write_json(out, rep)
    for k, r in refusals.items():  # one example per refusal kind too
        (examples / f"refused_{_slug(k)}.lwl").write_text(
            _commented(r["example_text"], [f"refused ({r['backend']}): {r['example']}"]))

    n = len(rows)
    accepted = n - status["rejected"]
    print()
    print(f"models tried            {n}  (seeds {args.seed}..{args.seed + n - 1}, "
          f"{rep['elapsed_s']:.0f} s)")
    print(f"accepted by front end   {accepted}  ({100 * accepted / max(n, 1):.1f}%)")
    for b in backends:
        print(f"compiled ({b:<5})        {compiled[b]}")
    print(f"passed every check      {status['ok']}")
    print(f"refused by the compiler {status['refused']} (models with no failure; "
          f"{sum(r['count'] for r in refusals.values())} refusals in all)")
    print(f"failed                  {status['failed']}")
    print(f"parted at a tie (noted) {status['noted']} (backends part at a discontinuity of the "
          "numpy step: not a failure)")
    if rejections:
        print("\nrejected by the front end (a generator or front-end bug):")
        for k, r in sorted(rejections.items(), key=lambda kv: -kv[1]["count"]):
            print(f"  {r['count']:4d}  {k}   e.g. seed {r['seeds'][0]}")
    if refusals:
        print("\nrefusals (LwlcError from the compiler), by kind:")
        for k, r in sorted(refusals.items(), key=lambda kv: -kv[1]["count"]):
            print(f"  {r['count']:4d}  {k}   e.g. seed {r['seeds'][0]}")
    if kinds:
        print("\nfailures by kind (count = models; backends; smallest example):")
        for k, e in sorted(kinds.items(), key=lambda kv: -kv[1]["models"]):
            print(f"  {e['models']:4d}  {k}")
            print(f"        backends {','.join(e['backends'])}; example seed "
                  f"{e['example_seed']} ({e['example_chars']} chars) -> {e['example_file']}")
            common = [f for f in e["features"] if not f.startswith("edges:dense")]
            if common:
                print(f"        features of every failing model: {', '.join(common)}")
    print(f"\nreport: {out}\nexamples: {examples}")


if __name__ == "__main__":
    main()
