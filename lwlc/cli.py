"""The `lwlc` command line: check, compile, graph, train, evaluate, predict, test.

Every error a user can cause prints as `FILE:LINE:COL: error: ...` with the line, a caret and a
hint, and exits with status 1; there is never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .errors import LwlcError
from .files import output_file

app = typer.Typer(
    name="lwlc",
    help="lwlc compiles .lwl feasibility-learning models (Elser, 'Learning without loss') into "
    "RRR projection solvers, and trains them. Start with `lwlc check models/majority.lwl`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
out_console = Console(highlight=False, soft_wrap=True, emoji=False)
for _console in (err_console, out_console):
    if not _console.is_terminal:  # tables sent to a file or a pipe are not cut at 80 columns
        _columns = os.environ.get("COLUMNS", "")  # (pytest-xdist's workers set 80)
        _console.width = max(160, int(_columns) if _columns.isdigit() else 0)


def _native_stdout_aside(to_stderr: bool) -> None:
    """Send what native code writes to the stdout file descriptor to stderr (process 0)
    or nowhere (the others), and keep Python's sys.stdout on the real stdout: Gloo
    prints "[Gloo] Rank 2 is connected to 3 peer ranks ..." on every process of a
    jax.distributed run, which broke the rule that only process 0 prints, and the JSON
    it prints (a user test)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's capture)
        return
    sys.stdout.flush()
    real = os.dup(fd)
    if to_stderr:
        os.dup2(sys.stderr.fileno(), fd)
    else:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
    sys.stdout = os.fdopen(real, "w", buffering=1, encoding=sys.stdout.encoding,
                           errors=sys.stdout.errors)


def _version(value: bool) -> None:
    if value:
        from . import __version__

        out_console.print(f"lwlc {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print lwlc's version and exit.")] = False) -> None:
    # the options before a command (the app's help is the Typer's own)
    return None

ModelArg = Annotated[Path, typer.Argument(help="The .lwl model file.", show_default=False)]


def _path(text: str) -> Path:
    """A path option's value; an empty one (an unset $OUTDIR) read as the current folder,
    and the run's files went there without a word."""
    if not str(text).strip():
        raise typer.BadParameter("is empty: give a path")
    return Path(text)


STDOUT = Path("-")  # `-o -`: standard output, where a command can print what it writes


def _folder_or_file(text: str) -> Path:
    """A path option that names a folder or a file to read (--out, --params): `-` is no
    such thing (it made a folder named `-`)."""
    if str(text).strip() == "-":
        raise typer.BadParameter("'-' (standard input or output) cannot be used here: "
                                 "give a path")
    return _path(text)


SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", metavar="NAME=VALUE",
                 help="Override a parameter or solver setting (beta, lam, iterations, "
                 "tolerance, epochs, seed, restart, batch or a batch part's size). "
                 "Repeatable; a later one of the same NAME wins."),
]
UseSetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", metavar="NAME=VALUE",
                 help="Override a model parameter (as in training: a param that training "
                 "changed takes its trained value unless set here) or a batch or a batch "
                 "part's size. Solver settings (beta, iterations, seed...) are unused here (a note "
                 "says so). "
                 "Repeatable; a later one of the same NAME wins."),
]
BackendOpt = Annotated[str, typer.Option("--backend", "-b", help="numpy (float64 reference) or "
                                         "jax (compiled).")]


_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _overrides(values: list[str] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in values or []:
        if "=" not in item:
            raise LwlcError(f"--set {item}: expected NAME=VALUE", hint="e.g. --set omega=2")
        name, _, value = item.partition("=")
        name = name.strip()
        words = {  # the solve statement's words, not numbers
            "error": 'write error = "item" or "element" in the model\'s solve statement',
            "method": "choose the method in the model's solve statement: solve "
                      "rrr(...), dr(...) or ap(...)"}
        if name in words:
            raise LwlcError(f"--set {item}: {name} cannot be set with --set",
                            hint=words[name])
        text = value.strip()
        # a decimal number as a model writes one (float() also took 1_0 and other scripts'
        # digits), or inf/nan, which the checks of each setting refuse with their reason
        decimal = _NUMBER.fullmatch(text) is not None
        if not (decimal or text.lower().lstrip("+-") in ("inf", "nan")):
            raise LwlcError(f"--set {item}: '{value}' is not a number",
                            hint="write a decimal number, e.g. --set omega=2.5 or 1e-3")
        # a whole number stays exact (a seed above 2^53 would lose digits as a float)
        out[name] = int(text) if text.lstrip("+-").isdecimal() else float(text)
        if decimal and not math.isfinite(out[name]):
            raise LwlcError(f"--set {item}: beyond the largest float (about 1.8e308)")
        if out[name] == 0 and any(c in "123456789" for c in text.lower().split("e")[0]):
            raise LwlcError(f"--set {item}: below the smallest float (about 4.9e-324): it "
                            "would be 0")
    return out


def _check_data_options(**given: str | None) -> None:
    """--data and --test name a file or a generator: an empty one is refused (it read as
    no option, and the model's own data were used without a word)."""
    for option, value in given.items():
        if value is not None and not value.strip():
            raise LwlcError(f"--{option} is empty", hint=f"give --{option} a file or a "
                            f"generator such as blobs:items=100, or drop --{option} to use "
                            "the model's own data line")


def _check_dtype(backend: str, dtype: str) -> None:
    """--dtype is float64 or float32, and float32 only with the JAX backend."""
    if dtype not in ("float64", "float32"):
        raise LwlcError(f"--dtype {dtype}: choose float64 or float32")
    if dtype != "float64" and backend == "numpy":
        raise LwlcError(f"--dtype {dtype} needs --backend jax: the NumPy backend is the float64 "
                        "reference and computes in float64 only",
                        hint=f"use --backend jax --dtype {dtype}, or drop --dtype")


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise LwlcError(f"{name}={value}: not a whole number") from None


def _join_processes(backend: str, coordinator: str | None, num_processes: int | None,
                    process_id: int | None) -> int:
    """Join a run of several processes (jax.distributed) when --coordinator (or
    LWLC_COORDINATOR) says so, before anything touches JAX; returns the number of processes
    (1 without a coordinator, and always with the NumPy backend, which ignores the LWLC_*
    variables)."""
    given = [flag for flag, v in (("--coordinator", coordinator),
                                  ("--num-processes", num_processes),
                                  ("--process-id", process_id)) if v is not None]
    if backend != "jax":
        if given:
            raise LwlcError(f"{given[0]} applies to the JAX backend: the NumPy backend runs "
                            "in one process", hint="add --backend jax, or drop " +
                            ", ".join(given))
        return 1
    where = "--coordinator"
    if coordinator is None and os.environ.get("LWLC_COORDINATOR", "").strip():
        coordinator, where = os.environ["LWLC_COORDINATOR"].strip(), "LWLC_COORDINATOR="
    if coordinator is None:
        if given:
            raise LwlcError(f"{given[0]} needs --coordinator HOST:PORT (or LWLC_COORDINATOR)",
                            hint="give every process the address of process 0, e.g. "
                            "--coordinator host0:12345")
        return 1
    # each number named as the user gave it: the flag, or the variable
    n_named, id_named = "--num-processes ", "--process-id "
    if num_processes is None:
        num_processes, n_named = _env_int("LWLC_NUM_PROCESSES"), "LWLC_NUM_PROCESSES="
    if process_id is None:
        process_id, id_named = _env_int("LWLC_PROCESS_ID"), "LWLC_PROCESS_ID="
    hint = ("run the same command on every host, with --num-processes N and its own "
            "--process-id 0 ... N-1 (or LWLC_NUM_PROCESSES and LWLC_PROCESS_ID)")
    named = f"{where}{'' if where.endswith('=') else ' '}{coordinator}"
    host, colon, port = coordinator.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")  # an IPv6 address: [::1]:1234
    if not (colon and host.strip("[]") and port.isascii() and port.isdigit()
            and 0 < int(port) < 65536 and (bracketed or ":" not in host)
            and not any(c.isspace() for c in coordinator)):
        raise LwlcError(f"{named} is not HOST:PORT (a port 1 ... 65535)",
                        hint="the address of process 0, which every host reaches, e.g. "
                        "host0:12345")
    if num_processes is None or process_id is None:
        missing = "--num-processes" if num_processes is None else "--process-id"
        raise LwlcError(f"{named}: {missing} is missing", hint=hint)
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise LwlcError(f"{id_named}{process_id} is not one of 0 ... {num_processes - 1} "
                        f"({n_named}{num_processes})", hint=hint)
    from .runtime.jax_loop import init_distributed

    if num_processes > 1:
        _native_stdout_aside(to_stderr=process_id == 0)
    if num_processes > 1 and process_id == 0:  # only process 0 prints
        _note(f"joining the run at {named} as process {process_id} of {num_processes} "
              "(waits up to 300 s for the others)")
    try:
        return init_distributed(coordinator, num_processes, process_id)
    except Exception as e:  # timeouts, refused connections, a second initialize, ...
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LwlcError(f"cannot join the run at {named} as process "
                        f"{process_id} of {num_processes}: {text}",
                        hint="start the same command on every host (process 0 listens at the "
                        "coordinator's address, which every host must reach)") from None


def _print_warnings(model) -> None:
    """The model's warnings (unused inputs, dropped node values, ...), as FILE:LINE:COL: warning."""
    from .errors import format_warning

    for w in getattr(model, "warnings", ()):
        err_console.print(format_warning(w), markup=False)


def _note(text: str) -> None:
    """A note on stderr that does not stop the command."""
    err_console.print(f"lwlc: note: {text}", markup=False)


# environment switches that take 0 or 1 (docs/jax.md, docs/performance.md)
_SWITCHES = {"LWLC_FUSED": "the fused edge pass (1 on, 0 off; unset: where it pays)",
             "LWLC_LANES": "the lane kernel (1 on, 0 off; unset: where the state fits the "
                           "cache)",
             "LWLC_MEMORY_CHECK": "the check that a run's state fits in memory (0 skips it)"}


def _check_switches() -> None:
    """A switch set to anything but 0 or 1 was taken as unset without a word."""
    for name, what in _SWITCHES.items():
        value = os.environ.get(name, "").strip()
        if value not in ("", "0", "1"):
            raise LwlcError(f"{name}={value}: {name} is 0 or 1", hint=f"it switches {what}")


# errnos of a write the system refused: a full or read-only disk, a quota, a closed pipe,
# an I/O error
_WRITE_ERRORS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EPIPE, errno.EIO,
                 errno.EBADF}


def _run(fn):
    """Run a command body; turn every LwlcError into a located message and exit 1."""
    try:
        _check_switches()
        return fn()
    except LwlcError as e:
        err_console.print(e.format(), markup=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt as e:
        if getattr(e, "signum", None):  # files.Terminated, or a search it stopped
            import signal

            err_console.print(f"lwlc: stopped by {signal.Signals(e.signum).name}",
                              markup=False)
            raise typer.Exit(128 + e.signum) from None
        err_console.print("lwlc: interrupted", markup=False)
        raise typer.Exit(130) from None
    except (typer.Exit, SystemExit):
        raise
    except OSError as e:
        # what the system refused (files are LwlcErrors where lwlc writes them): here, most
        # often the output a command prints, into a full disk, /dev/full or a closed pipe
        if os.environ.get("LWLC_DEBUG"):
            raise
        if e.errno not in _WRITE_ERRORS:
            _internal_error(e)
        with contextlib.suppress(OSError):
            err_console.print(f"lwlc: error: cannot write the output: {e.strerror or e}",
                              markup=False)
        raise typer.Exit(1) from None
    except Exception as e:  # a bug in lwlc, not the user's mistake: say so, briefly
        if os.environ.get("LWLC_DEBUG"):
            raise
        if _out_of_memory(e):
            err_console.print(f"lwlc: error: out of memory: {e}\n  hint: use a smaller batch "
                              "(--set batch=N), or --backend jax --dtype float32 (half the "
                              "bytes), or free memory; the check before a run "
                              "(LWLC_MEMORY_CHECK) counts the RRR state only", markup=False)
            raise typer.Exit(1) from None
        _internal_error(e)


def _out_of_memory(e: Exception) -> bool:
    """Whether `e` is an allocation the system refused: NumPy's MemoryError, or XLA's
    (JAX 0.10.2: JaxRuntimeError "INTERNAL: ... Out of memory allocating N bytes"; a run
    beyond the memory it may use was an 'internal error')."""
    text = str(e)
    return isinstance(e, MemoryError) or (
        type(e).__name__ in ("XlaRuntimeError", "JaxRuntimeError")
        and ("RESOURCE_EXHAUSTED" in text or "Out of memory" in text))


def _hypothesis_storage() -> None:
    """Keep hypothesis's files (its constants cache) out of the current folder, where it
    made a .hypothesis/ the user never asked for: in lwlc's cache folder, else a temporary
    one; HYPOTHESIS_STORAGE_DIRECTORY given by the user is left as it is."""
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        return
    from .files import own_cache_folder

    folder = own_cache_folder("hypothesis")
    if folder is None:
        import tempfile

        folder = tempfile.mkdtemp(prefix="lwlc-hypothesis-")
    os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = folder


def _internal_error(e: Exception) -> None:
    """Say that `e` is a bug in lwlc, briefly, and exit 2."""
    err_console.print(f"lwlc: internal error: {type(e).__name__}: {e}\n"
                      "  hint: this is a bug in lwlc; rerun with LWLC_DEBUG=1 for the "
                      "traceback and report it", markup=False)
    raise typer.Exit(2) from None


@app.command()
def check(model: ModelArg, set_: SetOpt = None,
          quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")]
          = False) -> None:
    """Parse, elaborate and split a model; print its summary and A/B split, or its errors
    (also those of lowering it to a solver, which compile and train would meet)."""

    def body():
        from .elaborate import load_model
        from .errors import format_warning
        from .lower import lower
        from .report import summary
        from .split import format_split, split

        m = load_model(model, _overrides(set_))
        _print_warnings(m)
        plan = split(m)
        for w in lower(m, plan).warnings:
            err_console.print(format_warning(w), markup=False)
        if not quiet:
            out_console.print(summary(m), markup=False)
            out_console.print(format_split(m, plan), markup=False)

    _run(body)


@app.command("compile")
def compile_(
    model: ModelArg,
    backend: BackendOpt = "numpy",
    output: Annotated[Path | None, typer.Option("--output", "-o", parser=_path,
                                                help="Write the solver here "
                                                "(default or -: print it).")] = None,
    emit: Annotated[str, typer.Option("--emit", help="What to show: code, ir or graph "
                                      "(the constraint-family graph as DOT).")] = "code",
    dtype: Annotated[str, typer.Option("--dtype", help="float64 or float32 (jax).")] = "float64",
    set_: SetOpt = None,
) -> None:
    """Compile a model to a standalone solver module (numpy: only numpy needed to run it)."""

    def body():
        from .compiler import compile_model
        from .driver import atomic_write_text, files_read
        from .report import ir_text
        from .split import write_graph

        if emit not in ("code", "ir", "graph"):
            raise LwlcError(f"--emit {emit}: choose code, ir or graph")
        _check_dtype(backend, dtype)
        to_file = output is not None and output != STDOUT
        if emit == "graph" and to_file and output.suffix.lower() in (".svg", ".png"):
            raise LwlcError(f"--emit graph writes DOT text, not {output.suffix.lower()[1:]}",
                            hint=f"lwlc graph {model} -o {output} draws the picture")
        if to_file:
            output_file(output, inputs=(model,))
        if emit == "code":
            from .driver import run_warnings
            from .errors import format_warning

            compiled = compile_model(model, _overrides(set_), backend, dtype)
            if to_file:
                output_file(output, inputs=files_read(compiled.model))
            for w in run_warnings(compiled, dtype):  # as `lwlc train` prints them
                err_console.print(format_warning(w), markup=False)
            text = compiled.source
        else:
            from .elaborate import load_model
            from .split import split

            m = load_model(model, _overrides(set_))
            if to_file:
                output_file(output, inputs=files_read(m))
            plan = split(m)
            if emit == "ir":
                text = ir_text(m, plan)
            else:
                import tempfile

                with tempfile.TemporaryDirectory() as tmp:
                    dot = Path(tmp) / "graph.dot"
                    write_graph(m, plan, dot)
                    text = dot.read_text()
        if not to_file:
            sys.stdout.write(text)
        else:
            atomic_write_text(output, text)
            err_console.print(f"wrote {output} ({len(text.splitlines())} lines)", markup=False)

    _run(body)


@app.command()
def graph(model: ModelArg,
          output: Annotated[Path, typer.Option("--output", "-o", parser=_path,
                                               help=".dot, .svg or .png (DOT text "
                                               "into -, /dev/stdout or a pipe)")],
          set_: SetOpt = None) -> None:
    """Draw the constraint-family graph, families colored by set A/B, edges by variable."""

    def body():
        from .driver import files_read
        from .elaborate import load_model
        from .errors import SplitError
        from .split import split, write_graph

        nonlocal output
        if output == STDOUT:
            output = Path("/dev/stdout")
        output_file(output, inputs=(model,))
        m = load_model(model, _overrides(set_))
        output_file(output, inputs=files_read(m))  # its edge and data files too
        _print_warnings(m)
        try:
            plan = split(m)
        except SplitError as e:  # draw it anyway: that is when the picture helps most
            if e.graph is None:
                raise
            from .driver import atomic_write_bytes
            from .report import unsplit_graph
            from .split import graph_format

            picture = unsplit_graph(m, e, graph_format(output))
            atomic_write_bytes(output, picture)
            err_console.print(e.format(), markup=False)
            err_console.print(f"wrote {output}: the constraint graph, with the constraints at "
                              "fault in red", markup=False)
            raise typer.Exit(1) from None
        write_graph(m, plan, output)
        if output != Path("/dev/stdout"):
            err_console.print(f"wrote {output}", markup=False)

    _run(body)


@app.command()
def train(
    model: ModelArg,
    data: Annotated[str | None, typer.Option("--data", "-d", help="Training data: a file in the "
                    "paper's or boolearn's text format (.zip ok) or a generator NAME:key=value,... "
                    "(default: the model's `data train`).")] = None,
    test: Annotated[str | None, typer.Option("--test", "-t", help="Test data, as --data.")] = None,
    set_: SetOpt = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="Random seed, a whole "
                    "number ≥ 0 (overrides the model's).")] = None,
    backend: BackendOpt = "numpy",
    dtype: Annotated[str, typer.Option("--dtype", help="float64 or float32 (jax only).")]
    = "float64",
    out: Annotated[Path | None, typer.Option("--out", "-o", parser=_folder_or_file,
                                             help="The run directory: run.json (what "
                                             "defines the run), then params.npz, log.csv "
                                             "and summary.json after each epoch. Locked "
                                             "while the run writes to it; a directory that "
                                             "already holds a run is refused without "
                                             "--resume or --overwrite.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its "
                      "last completed epoch; refused if the model text, --set values, data, "
                      "seed, backend or dtype differ from the run's (only epochs may be "
                      "raised), or if its files are damaged.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the run in --out "
                         "(its run.json, params.npz, log.csv and summary.json): they are "
                         "kept aside until the new run's first epoch, and put back if it "
                         "stops before.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no per-epoch "
                     "table; the summary (JSON) is still printed.")] = False,
    devices: Annotated[int | None, typer.Option("--devices", min=1, help="JAX only: shard the "
                       "batch over the first N devices (default: all whose count divides the "
                       "batch).")] = None,
    restarts: Annotated[int | None, typer.Option("--restarts", min=1, help="Run R random "
                        "starts of a one-batch model (NMF), seeds SEED .. SEED+R-1, each until "
                        "RRR_err < tolerance or the cap (iterations x epochs); under JAX as one "
                        "vmapped state. Prints each start's outcome; with --out writes "
                        "restarts.json, restarts.csv and restarts.npz (each start's parameters: "
                        "evaluate --start SEED) there.")] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, metavar="N", help="With "
                       "--restarts, where the lane kernel runs the starts (JAX, a small "
                       "model): split them into N groups, each advanced in its own thread "
                       "(default: the CPU cores this process may use). Each start's result "
                       "is the same in any split.")] = None,
    coordinator: Annotated[str | None, typer.Option("--coordinator", metavar="HOST:PORT",
                           help="JAX only: run across several processes (jax.distributed), "
                           "one per host: HOST:PORT of process 0, which every host reaches. "
                           "Run the same command on every host, each with its own "
                           "--process-id; the batch is sharded over all their devices. Only "
                           "process 0 prints and writes --out. Default: LWLC_COORDINATOR "
                           "(none: one process).")] = None,
    num_processes: Annotated[int | None, typer.Option("--num-processes", min=1, metavar="N",
                             help="JAX, with --coordinator: the number of processes (default: "
                             "LWLC_NUM_PROCESSES).")] = None,
    process_id: Annotated[int | None, typer.Option("--process-id", min=0, metavar="I",
                          help="JAX, with --coordinator: this process, 0 ... N-1; 0 is the "
                          "coordinator, which prints and writes the run directory (default: "
                          "LWLC_PROCESS_ID).")] = None,
) -> None:
    """Train a model with RRR: epochs of shuffled batches, warm starts, a per-epoch table."""

    def body():
        _check_dtype(backend, dtype)
        _check_data_options(data=data, test=test)
        if threads is not None and restarts is None:
            raise LwlcError(f"--threads {threads} applies to --restarts only",
                            hint="one start's iterations run one after another; XLA's loop "
                            "uses the cores by itself")
        # first: jax.distributed must be joined before anything touches JAX's devices
        processes = _join_processes(backend, coordinator, num_processes, process_id)
        first = True
        if processes > 1:
            import jax

            first = jax.process_index() == 0
            if restarts is not None:
                raise LwlcError("--restarts runs in one process", hint="drop --coordinator "
                                "(and LWLC_COORDINATOR) for --restarts")

        from .driver import TrainConfig
        from .driver import train as run_train
        from .errors import format_warning

        overrides = _overrides(set_)
        if seed is not None and "seed" in overrides:  # one of them was dropped without a word
            raise LwlcError("--seed and --set seed both set the seed", hint="give one of them")
        cfg = TrainConfig(model=str(model), data=data, test=test, overrides=overrides,
                          seed=seed, backend=backend, dtype=dtype,
                          out=str(out) if out else None, resume=resume, overwrite=overwrite,
                          quiet=quiet, devices=devices)
        if restarts is not None:
            from .restarts import train_restarts

            train_restarts(cfg, restarts, console=out_console, threads=threads,
                           warn=lambda w: err_console.print(format_warning(w), markup=False))
            return
        try:
            summary = run_train(cfg, console=out_console, notes=err_console,
                                warn=lambda w: err_console.print(format_warning(w),
                                                                 markup=False))
        except KeyboardInterrupt as e:  # _run says "interrupted"; first, what is kept
            note = getattr(e, "lwlc_note", None)
            if note:
                err_console.print(f"lwlc: note: {note}", markup=False)
            raise
        if first and out and not quiet:
            import shlex

            _note(f"the run is in {out} (`lwlc plot {shlex.quote(str(out))} -o curves.png` "
                  "draws its curves)")
        if first:  # also with --quiet: the run's one result, which scripts read
            from .driver import metric_keys

            keys = ["model", "backend", "epochs", "iterations", "gwm", "seconds", "wm_per_s",
                    "rrr_err", *metric_keys(summary)]
            shown = {k: summary[k] for k in keys if k in summary}
            out_console.print(json.dumps(shown, indent=2), markup=False)

    def stopping_cleanly():  # SIGTERM, SIGHUP: as a Ctrl-C (the last epoch kept)
        from .files import stops_cleanly

        with stops_cleanly():
            body()

    _run(stopping_cleanly)


StartOpt = Annotated[int | None, typer.Option(
    "--start", min=0, metavar="SEED", help="With --params DIR/restarts.npz (from lwlc train "
    "--restarts R --out DIR): the start of this seed.")]


@app.command()
def evaluate(
    model: ModelArg,
    params: Annotated[Path, typer.Option("--params", "-p", parser=_folder_or_file,
                                         help="params.npz from lwlc train, or the "
                                         "run folder (--out DIR) that holds it; or "
                                         "restarts.npz with --start.")],
    data: Annotated[str | None, typer.Option("--data", "-d", help="Data to evaluate on (file "
                    "or generator spec); default: the model's `data test`.")] = None,
    set_: UseSetOpt = None,
    backend: BackendOpt = "numpy",
    start: StartOpt = None,
) -> None:
    """Evaluate trained parameters on a data set: the error rate of each class prediction and
    the RMS error of each value the model equates to data. Latent codes (an NMF's) are
    inferred from the weights, as for new items: train's figure reads them from its state."""

    def body():
        from .driver import evaluate as run_eval

        _check_data_options(data=data)
        res = run_eval(str(model), str(params), data, _overrides(set_), backend, warn=_note,
                       start=start)
        # NaN (an RMS error over items that overflowed) is no JSON: null, as lwlc's files
        res = {k: None if isinstance(v, float) and v != v else v for k, v in res.items()}
        out_console.print(json.dumps(res, indent=2), markup=False)

    _run(body)


@app.command()
def predict(
    model: ModelArg,
    params: Annotated[Path, typer.Option("--params", "-p", parser=_folder_or_file,
                                         help="params.npz from lwlc train, or the "
                                         "run folder (--out DIR) that holds it; or "
                                         "restarts.npz with --start.")],
    data: Annotated[str | None, typer.Option("--data", "-d", help="Items to predict (file or "
                    "generator spec); default: the model's `data test`.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", parser=_path,
                                                help="Write predictions "
                                                "(one per line) here (default or -: "
                                                "print them).")] = None,
    set_: UseSetOpt = None,
    backend: BackendOpt = "numpy",
    start: StartOpt = None,
) -> None:
    """Predict for every item of a data set, one line per item: the class of each class
    constraint and the values of each constraint that equates nodes to data, in model order."""

    def body():
        import numpy as np

        from .driver import atomic_write_text
        from .driver import predict as run_predict

        _check_data_options(data=data)
        to_file = output is not None and output != STDOUT
        if to_file:
            output_file(output, inputs=(model, params, data or ""))
        def check_output(files):  # the model's own edge and data files too
            output_file(output, inputs=(model, params, *files))

        pred = run_predict(str(model), str(params), data, _overrides(set_), backend,
                           warn=_note, start=start,
                           check_output=check_output if to_file else None)
        columns = []  # classes as whole numbers, values to full precision (shortest repr)
        widths = {name: int(np.prod(np.shape(v)[1:])) for name, v in pred.items()}
        if len(widths) > 1 or any(n > 1 for n in widths.values()):  # say which is which
            _note("the columns, in order: " + ", ".join(
                name if n == 1 else f"{name} ({n} values)" for name, n in widths.items()))
        for v in pred.values():
            a = np.asarray(v).reshape(len(v), -1)
            # + 0.0: -0.0 prints as 0.0 (the backends differ in the sign of a zero)
            fmt = str if a.dtype.kind in "iub" else (lambda x: repr(float(x) + 0.0))
            columns.append([[fmt(x) for x in row] for row in a.tolist()])
        lines = "\n".join(" ".join(cell for part in row for cell in part)
                          for row in zip(*columns, strict=True)) + "\n"
        if to_file:
            atomic_write_text(output, lines)
        else:
            sys.stdout.write(lines)

    _run(body)


@app.command()
def plot(
    runs: Annotated[list[Path], typer.Argument(help="Training runs' folders (lwlc train "
                                               "--out DIR), or their log.csv files; "
                                               "several are drawn side by side.",
                                               show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", parser=_path,
                                         help="The picture: .png, .svg or .pdf.")],
) -> None:
    """Draw runs' training curves from their log.csv: RRR_err at the first and last
    iteration of each epoch's batches (log scale), and every metric a run recorded (error
    rates, RMS errors), per epoch. A run still training can be drawn as it goes."""

    def body():
        from .driver import atomic_write_bytes
        from .report import CURVE_FORMATS, training_curves

        fmt = output.suffix.lower().lstrip(".")
        if fmt not in CURVE_FORMATS:
            raise LwlcError(f"cannot draw the curves as '{output.suffix or output.name}'",
                            hint="name the file *.png, *.svg or *.pdf")
        logs = [_training_log(run) for run in runs]
        output_file(output, inputs=tuple(log for log, _, _ in logs))
        drawn = [(name, rows) for _, name, rows in logs]
        title = drawn[0][0] if len(drawn) == 1 else f"{len(drawn)} runs"
        atomic_write_bytes(output, training_curves(drawn, title, fmt))
        epochs = ", ".join(f"{len(rows)} epoch(s) of {log}" for log, _, rows in logs)
        err_console.print(f"wrote {output}: {epochs}", markup=False)

    _run(body)


def _training_log(run: Path) -> tuple[Path, str, list[dict]]:
    """A run's log.csv (the folder's, or the file given), the run's name for a legend (its
    model, backend and dtype from run.json, and its folder) and its rows."""
    from . import rundir

    log = run / rundir.LOG if run.is_dir() else run
    if not log.is_file():
        restarts = run.is_dir() and (run / rundir.RESTARTS[1]).is_file()
        raise LwlcError(f"no training log: {log} " + ("does not exist" if not log.exists()
                                                      else "is no file"),
                        hint=f"{run} holds the starts of lwlc train --restarts "
                        f"({rundir.RESTARTS[1]}: one row per start), no per-epoch log"
                        if restarts else "give the folder of lwlc train --out DIR, or its "
                        "log.csv; a run without --out keeps no log")
    try:
        raw = log.read_bytes()
    except OSError as e:
        raise LwlcError(f"cannot read {log}: {e.strerror or e}") from None
    rows, _ = rundir.parse_log(log, raw)
    if not rows:
        raise LwlcError(f"{log} holds no epoch yet", hint="draw it after the run's first epoch")
    name = log.parent.name or str(log.parent)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        record = json.loads((log.parent / rundir.RUN).read_text())
        name = f"{record['model']} ({record['backend']}, {record['dtype']}): {name}"
    return log, name, rows


@app.command("test")
def test_sets(
    model: ModelArg,
    examples: Annotated[int, typer.Option("--examples", "-n", min=1,
                                          help="Examples per property.")]
    = 20,
    seed: Annotated[int, typer.Option("--seed", min=0,
                                      help="Seed of the random states and data.")] = 0,
    library: Annotated[bool, typer.Option("--library/--no-library",
                                          help="Also run the set library's property tests "
                                          "on the set kinds the model uses.")] = True,
    family: Annotated[list[str] | None, typer.Option(
        "--family", "-f", metavar="NAME",
        help="Check only this constraint family (repeatable), not the whole RRR step, and "
        "run the library's tests of its set kinds only: quicker, since each family's JAX "
        "projection compiles on its own.")] = None,
    set_: SetOpt = None,
) -> None:
    """Property-test the solver the model compiles to. The projections as emitted into its
    NumPy and JAX modules, family by family, on random states and data: in the set (checked
    from the constraint's definition), elements outside the family untouched, idempotent,
    nearest point in the model's metric, non-expansive where convex, NumPy = JAX; and one RRR
    step of the whole model, finite and NumPy = JAX. First, the set library's own property
    tests of the set kinds it uses. A batch larger than 8 items per part is shrunk unless
    --set gives its size (to 8, doubled while a percentage count, as exempt 10%, would be 0:
    mnist_exempt.lwl tests at 128, which takes minutes). Exit 1 on any failure."""

    def body():
        from .modeltest import small_batch, test_model
        from .report import library_results, result_table

        _hypothesis_storage()
        overrides = small_batch(model, _overrides(set_))
        import numpy as np

        # a piece evaluated at its domain's edge (sqrt(z) at 0) warns in NumPy; the checks
        # themselves find any non-finite projection
        # on a terminal, a status line says what is checked (a model takes seconds to
        # minutes: each family's JAX projection compiles on its own)
        with np.errstate(all="ignore"), err_console.status(f"lwlc test {model}") as status:
            def progress(what: str) -> None:
                status.update(f"lwlc test {model}: {what}")

            # the model's own checks first: an unknown --family stops before the library's
            named = tuple(family or ())
            emitted = test_model(model, overrides, examples, seed, families=named,
                                 progress=progress)
            results = (library_results(model, overrides, examples, seed, families=named,
                                       progress=progress) if library else [])
            results += emitted
        sizes = ", ".join(f"{k}={v:g}" for k, v in overrides.items())
        out_console.print(result_table(f"lwlc test {model}" + (f" ({sizes})" if sizes else ""),
                                       results))
        failed = [r for r in results if not r.ok]
        for r in failed:
            out_console.print(f"FAIL {r.family} ({r.kind}, {r.set}): {r.property}: {r.detail}",
                              markup=False)
        if failed:
            raise typer.Exit(1)
        out_console.print(f"all {len(results)} checks passed", markup=False)

    _run(body)


def main() -> None:
    """The command line; a Ctrl-C before a command's body runs (typer building the
    commands) ends as one inside it does, without a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("lwlc: interrupted", markup=False)
        raise SystemExit(130) from None


if __name__ == "__main__":  # pragma: no cover
    main()
