"""Run one scenario: data → problem → solver init → steps until the stopping rule → trace.

The solver's step is timed alone (its phases); metrics are collected after it,
outside the timing, at the scenario's cadence. Every iteration is committed to
the trace before the next begins, so a killed run keeps what it did.
"""

import dataclasses
import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulator import __version__
from simulator.config import ConfigError, load_scenario, scenario_to_toml
from simulator.data import DataError, check_dataset, make_dataset
from simulator.engine import interrupts
from simulator.engine.metrics import Metrics
from simulator.engine.trace import TraceError, TraceWriter
from simulator.models import get_model
from simulator.solvers import check_options as check_solver_options
from simulator.solvers import get_solver
from simulator.streams import streams


class InputError(Exception):
    """Bad input: a scenario, data, option or path the run cannot start with (exit code 2)."""


class RunFailed(Exception):
    """The run started but could not finish (exit code 1); the trace says why."""

    def __init__(self, message, path):
        super().__init__(message)
        self.path = path


@dataclass
class RunResult:
    path: Path
    status: str
    iterations: int
    loss0: float
    loss: float
    init_seconds: float
    step_seconds: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    @property
    def median_step_seconds(self):
        return float(np.median(self.step_seconds)) if self.step_seconds else float("nan")


# -- inputs ---------------------------------------------------------------------
def load(name_or_path, overrides=(), seed=None):
    """The resolved scenario; ConfigError becomes InputError."""
    try:
        return load_scenario(name_or_path, overrides=tuple(overrides or ()), seed=seed)
    except ConfigError as exc:
        raise InputError(str(exc)) from None


def prepare(scenario):
    """Data and problem from the scenario's seed: (model, problem, theory constants, warnings). The
    memory guard runs once the data's sizes are known, before anything of size m is drawn."""
    rngs = streams(scenario.seed)
    dc = scenario.data
    if dc.n is not None and dc.d is not None:
        check_memory(scenario)  # before the data: n·d itself may not fit
    try:
        X, y = make_dataset(dc.kind, dc.n, dc.d, rngs["data"], **dc.dataset_params())
        if dc.n is None or dc.d is None:  # file data: its sizes are known only now
            check_options(scenario, *X.shape)
            check_memory(scenario, *X.shape)
        warning = check_dataset(X, y)
    except DataError as exc:
        raise InputError(f"{'data.path' if dc.kind == 'file' else 'data'}: {exc}") from None
    model = get_model(scenario.network.kind)
    problem = model.build(scenario, X, y, rngs)
    return model, problem, model.theory_constants(problem, scenario), [warning] if warning else []


#: what a Python process with numpy, numba, h5py and the simulator's kernels loaded holds (measured
#: 230-260 MB) plus slack for temporaries the word counts leave out
BASE_BYTES = 300 * 2**20

#: the fields a memory estimate depends on, halved one at a time to find the one that drives it
_SIZE_FIELDS = ("network.m", "data.n", "data.d", "solver.sketch_rows")


def estimate_memory(scenario, n=None, d=None):
    """Bytes the run needs at its peak: the model's and the solver's words (their own accounts, for the
    solver and options chosen) + BASE_BYTES. n, d: the data's sizes when the scenario leaves them open."""
    return _estimate(scenario, {"network.m": scenario.network.m, "data.n": n or scenario.data.n or 0,
                                "data.d": d or scenario.data.d or 0,
                                "solver.sketch_rows": scenario.solver.options.get("sketch_rows")})


def _estimate(scenario, sizes):
    n, d, m = sizes["data.n"], sizes["data.d"], sizes["network.m"]
    options = dict(scenario.solver.options)
    if sizes["solver.sketch_rows"] is not None:
        options["sketch_rows"] = sizes["solver.sketch_rows"]
    model = get_model(scenario.network.kind)
    k = model.expected_active(dataclasses.replace(scenario, data=dataclasses.replace(scenario.data, n=n),
                                                  network=dataclasses.replace(scenario.network, m=m)))
    cls = get_solver(scenario.solver.name)
    streamed = k is not None and cls.streams_w0(options)
    words = model.memory_words(n, d, m, k=k) if streamed else model.memory_words(n, d, m)
    words += cls.memory_words(n, d, m, options, k=k)
    return 8 * words + BASE_BYTES


def memory_drivers(scenario, n=None, d=None):
    """The size fields whose halving lowers the estimate most (those within half of the best), best
    first: the ones to name when the run does not fit."""
    sizes = {"network.m": scenario.network.m, "data.n": n or scenario.data.n or 0,
             "data.d": d or scenario.data.d or 0, "solver.sketch_rows": scenario.solver.options.get("sketch_rows")}
    full = _estimate(scenario, sizes)
    saved = {}
    for key in _SIZE_FIELDS:
        value = sizes[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 2:
            continue  # "auto", absent, or too small to halve
        saved[key] = full - _estimate(scenario, {**sizes, key: value // 2})
    if not saved:
        return ["network.m"]
    top = max(saved.values())
    return sorted((k for k, v in saved.items() if v >= 0.5 * top), key=lambda k: -saved[k])


def available_memory():
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def check_options(scenario, n=None, d=None):
    """The solver's options against the sizes (InputError naming the option). Loading a scenario runs
    this check already; it runs again when a data file's sizes become known."""
    n, d = n or scenario.data.n, d or scenario.data.d
    try:
        check_solver_options(scenario.solver.name, n, d, scenario.network.m, scenario.solver.options)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def check_memory(scenario, n=None, d=None):
    """InputError naming the size field that drives the estimate when the run would not fit."""
    need, have = estimate_memory(scenario, n, d), available_memory()
    if need > have:
        keys = memory_drivers(scenario, n, d)
        raise InputError(f"{keys[0]}: the run needs about {need / 2**30:.1f} GiB but only {have / 2**30:.1f} GiB "
                         f"is available; lower {' or '.join(keys)} (what its memory grows with most)")
    return need


def default_out(scenario):
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("outputs") / f"{scenario.name}-{stamp}.h5"


def open_trace(path, overwrite, attrs, default=False):
    path = Path(path)
    if default:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return TraceWriter.create(path, overwrite=overwrite, attrs=attrs)
    except (FileExistsError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError) as exc:
        raise InputError(f"out: {exc}") from None  # the --out flag, or out= of the Python API


# -- the run ----------------------------------------------------------------------
def kernels_cached():
    """Whether Numba's cache holds compiled kernels of this install (else the first run compiles them,
    8-10 s): index files next to the kernels' sources, or under NUMBA_CACHE_DIR when that is set."""
    kernels = Path(__file__).resolve().parent.parent / "kernels"
    places = [kernels / "__pycache__"]
    if os.environ.get("NUMBA_CACHE_DIR"):
        places.append(Path(os.environ["NUMBA_CACHE_DIR"]))
    return any(next(place.rglob("*.nbi"), None) is not None for place in places if place.is_dir())


def _compile_notice(quiet):
    """On a terminal, say why the first run sits silent for seconds."""
    if not quiet and sys.stderr.isatty() and not kernels_cached():
        print("compiling kernels (first run only; cached afterwards) ...", file=sys.stderr, flush=True)


def _progress(total, name, quiet, unit="it"):
    from tqdm import tqdm

    return tqdm(total=total, desc=name, unit=unit, disable=quiet or not sys.stderr.isatty(), leave=False,
                unit_scale=unit != "it")


@contextmanager
def _init_progress(problem, name, quiet):
    """A bar over the solver's passes over W0 (minutes at m = 2^30), for a model whose initial weights report
    their progress (`problem.init.progress`, the two-layer model); nothing for the others."""
    weights = getattr(problem, "init", None)
    if weights is None or not hasattr(weights, "progress"):
        yield
        return
    bar = _progress(problem.m, f"{name}: init, W0", quiet, unit="neuron")

    def tell(done, total):
        bar.update(done - bar.n if done >= bar.n else done)  # a second pass starts the count again

    weights.progress = tell
    try:
        yield
    finally:
        weights.progress = None
        bar.close()


def run_scenario(scenario, out=None, overwrite=False, quiet=True):
    """Run a resolved Scenario into a trace; returns a RunResult. Raises InputError, RunFailed."""
    check_options(scenario)
    _compile_notice(quiet)
    model, problem, theory, warnings = prepare(scenario)  # checks the memory once the data's sizes are known
    cls = get_solver(scenario.solver.name)
    options = dict(scenario.solver.options)
    path = Path(out) if out else Path(scenario.output.path) if scenario.output.path else default_out(scenario)
    attrs = {"scenario_name": scenario.name, "scenario_toml": scenario_to_toml(scenario), "seed": scenario.seed,
             "model": model.KIND, "solver": scenario.solver.name, "simulator_version": __version__, "m": problem.m, "n": problem.n,
             "d": problem.d}
    writer = open_trace(path, overwrite, attrs, default=not out and not scenario.output.path)
    try:
        # translated() inside the writer: an interrupt mangled by compiled code is closed as `interrupted`
        with writer, interrupts.translated():
            with writer.batch():  # one copy of the file for both
                writer.set_attrs(**theory, data_warning="; ".join(warnings))
                writer.write_data(**model.trace_data(problem, scenario), w0_limit=scenario.output.store_W0_max)
            solver = cls(problem, options, lam=theory["lambda"])
            writer.describe("phase_seconds", phases=list(solver.phases))
            if "phase_flops" in solver.counters:
                writer.describe("phase_flops", phases=list(solver.phases))
            with _init_progress(problem, scenario.name, quiet):
                rec = solver.init()
            init_seconds = rec.seconds
            sketch_note = sketch_warning(solver.info.get("sketch_rows"), problem.m,
                                         problem.weight_entries // problem.m)
            extra = {"sketch_warning": sketch_note} if sketch_note else {}
            if sketch_note:
                warnings.append(sketch_note)
            writer.set_attrs(init_seconds=init_seconds, **{f"solver_{k}": v for k, v in solver.info.items()},
                             **extra)
            if rec.error:
                writer.finish("failed", f"init: {rec.error}")
                raise RunFailed(f"init: {rec.error}", path)
            metrics = Metrics(solver, scenario.metrics)
            row = metrics.state(0, full=True)
            with writer.batch():  # the scales and the metrics' datasets in one copy of the file
                writer.set_attrs(**model.initial_scales(problem, solver.predictions()))
                writer.append_state(0, row)
            loss0 = loss = row["loss"]
            stop = scenario.stopping
            result = RunResult(path, "running", 0, loss0, loss, init_seconds, warnings=warnings)
            bar = _progress(stop.max_iterations, scenario.name, quiet)
            try:
                for t in range(1, stop.max_iterations + 1):
                    interrupts.check()  # a Ctrl-C/SIGTERM whose exception was swallowed on the way
                    if _reached(loss, loss0, stop):
                        break
                    rec = solver.step()
                    if rec.error:
                        writer.finish("failed", f"step {t}: {rec.error}")
                        raise RunFailed(f"step {t}: {rec.error}", path)
                    full = t % scenario.metrics.every == 0 or t == stop.max_iterations
                    state = metrics.state(t, full=full)
                    step = _step_row(solver, rec)
                    if scenario.metrics.sketch_distortion:
                        step["sketch_eps"] = metrics.sketch_eps()
                    loss = state["loss"]
                    if not math.isfinite(loss):
                        writer.append_iteration(t, state=state, step=step)
                        writer.finish("failed", f"step {t}: the loss is not finite ({loss})")
                        raise RunFailed(f"step {t}: the loss is not finite", path)
                    if not full and _reached(loss, loss0, stop):
                        state = metrics.state(t, full=True)  # the last state always gets every metric
                    writer.append_iteration(t, state=state, step=step)
                    result.step_seconds.append(step["step_seconds"])
                    result.iterations = t
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.3e}")
            finally:
                bar.close()
            final = solver.final_state(store_weights=problem.weight_entries <= scenario.output.store_W0_max)
            with writer.batch():  # one copy of the file for the final state, the attrs and the status
                writer.write_final(final)
                writer.set_attrs(w0_held=bool(getattr(problem, "held", True)))  # False: W0 was streamed, never held
                writer.finish("completed")
    except TraceError as exc:  # the trace was replaced or removed under the run
        raise RunFailed(str(exc), path) from None
    except KeyboardInterrupt as exc:  # the writer has closed the trace as `interrupted`: say where it is
        exc.trace_path = str(path)
        raise
    result.status = "completed"
    result.loss = loss
    return result


def sketch_warning(sketch_rows, m, per_neuron):
    """The sentence for trace attr ``sketch_warning`` when a sketch of Jᵀ has at least as many rows as Jᵀ
    itself, else "" (no sketch: ``sketch_rows`` absent or 0, or a sketch that compresses). Jᵀ has one row
    per trained weight: m·``per_neuron`` (d for the two-layer network, m for W_L of the multilayer one)."""
    if not isinstance(sketch_rows, (int, np.integer)) or isinstance(sketch_rows, bool) or sketch_rows <= 0:
        return ""
    jt_rows = int(m) * int(per_neuron)
    if sketch_rows < jt_rows:
        return ""
    return (f"the sketch has s = {int(sketch_rows)} rows, at least as many as Jᵀ's {m}·{per_neuron} = {jt_rows} "
            f"(one per trained weight): it compresses nothing; lower solver.sketch_rows or raise network.m "
            f"(or solve exactly: an exact regression needs no sketch)")


def _reached(loss, loss0, stop):
    return (loss <= stop.loss_target) or (stop.rel_loss_target > 0 and loss <= stop.rel_loss_target * loss0) \
        or loss == 0.0


def _step_row(solver, rec):
    row = {"step_seconds": rec.seconds,
           "phase_seconds": np.array([rec.phase_seconds.get(name, 0.0) for name in solver.phases])}
    for key in solver.counters:
        if key in rec.counters:
            row[key] = rec.counters[key]
    return row


def run(name_or_path="quickstart", overrides=None, out=None, *, seed=None, overwrite=False, quiet=True):
    """Python API: run a named scenario (or a TOML path) and return the trace path.

    Raises InputError for bad input and RunFailed when the run fails (the trace records it).
    """
    scenario = load(name_or_path, overrides or (), seed)
    return run_scenario(scenario, out=out, overwrite=overwrite, quiet=quiet).path
