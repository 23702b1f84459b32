"""Sweeps: one scenario run over the cartesian grid of overrides, in parallel worker processes.

``run_sweep`` expands grid specs (``network.m=2^6..2^15``, ``seed=0..9``,
``data.n=4,8,16``) into points, runs every point in a worker (a
``concurrent.futures.ProcessPoolExecutor``, or a Dask cluster's executor with
``scheduler=``), writes one trace per point (``point-0000.h5``, ...) validated
in place (/validation), and a summary table ``summary.csv`` + ``summary.h5``
with one row per point. A point that fails is recorded as failed (its error in
the table) and the sweep goes on.

Workers receive the resolved scenario as TOML text (``--set`` overrides baked
in) plus the point's overrides, so a worker on another machine needs only the
installed package -- and ``out_dir``, which it writes into: with a cluster,
``out_dir`` must be a path every worker can reach.

Reports read only the summary rows: ``fit_slope`` (log-log slope of seconds per
iteration against a grid key), ``fit_loglog`` / ``fit_lines`` (the exponents of the counted
operations per step, ``ops_per_step``, and of seconds per step, each with a least-squares
standard error and a bootstrap 95% interval over the points, and the constant in front of
seed 002's n²·m^0.76·d), and the report a scenario names in ``[sweep]
report``, looked up in ``simulator.theory.REPORTS`` by :func:`format_report`
("width-threshold": seed 002's smallest width at which Def 4.5 held for >= 9/10
seeds beside Thm 4.1's requirement, ``simulator.theory.seed002``).
"""

import concurrent.futures as cf
import csv
import itertools
import math
import multiprocessing
import os
import re
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulator.fits import loglog_fit

from simulator.config import ConfigError, all_keys, parse_override_value, scenario_from_dict, scenario_to_toml
from simulator import theory
from simulator.engine import interrupts
# re-exported: the width-threshold report (seed 002) as `simulator sweep` and older callers import it
from simulator.theory.seed002 import (THRESHOLD_FRACTION, format_width_threshold_report,  # noqa: F401
                                      width_threshold_report)

#: the summary table's columns after ``point`` and the grid keys (in this order)
ROW_COLUMNS = ("status", "error", "iterations", "loss0", "loss", "median_step_seconds", "ops_per_step", "init_seconds",
               "validate", "def_4_5", "n", "m", "d", "b", "lambda", "rho", "width_ratio",
               # seed 004 (multilayer traces; empty for two-layer ones)
               "s004_contraction", "s004_contraction_worst", "s004_sparsity_bound", "s004_expected_active",
               "s004_sparsity_ratio", "s004_drift_ratio", "s004_sketch_eps_ratio", "seconds", "trace")
_INT_COLUMNS = ("point", "iterations", "n", "m", "d")
MAX_POINTS = 100_000
CONNECT_TIMEOUT = 10  # seconds to reach a --scheduler
_FORBIDDEN_KEYS = ("output.path",)  # the sweep names the traces itself

_POW_RANGE_RE = re.compile(r"^\s*(\d+)\s*(?:\^|\*\*)\s*(\d+)\s*\.\.\s*(\d+)\s*(?:\^|\*\*)\s*(\d+)\s*$")
_INT_RANGE_RE = re.compile(r"^\s*([+-]?\d+)\s*\.\.\s*([+-]?\d+)\s*$")


# --------------------------------------------------------------------------- grid


def parse_grid(specs):
    """``["network.m=2^6..2^8", "seed=0..2", "data.n=4,8"]`` → ``[(key, [values...]), ...]``.

    A spec is ``KEY=VALUES`` where VALUES is a comma list (each item parsed like a ``--set``
    value: ``1e-3``, ``2^12``, ``true``, ``pcg``), an inclusive integer range ``a..b``, or a
    doubling range ``2^a..2^b`` (the powers of two 2^a, 2^(a+1), ..., 2^b). KEY is any key
    ``--set`` accepts (``seed`` = the top-level seed). Raises ValueError naming the spec.
    """
    if isinstance(specs, str):
        specs = [specs]
    known = all_keys()
    grid, seen = [], set()
    for spec in specs:
        where = f"grid spec {spec!r}"
        if not isinstance(spec, str) or "=" not in spec:
            raise ValueError(f"{where}: expected KEY=VALUES (e.g. network.m=2^10..2^14, seed=0..9, data.n=4,8,16)")
        key, text = (s.strip() for s in spec.split("=", 1))
        if key not in known:
            import difflib

            hint = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            raise ValueError(f"{where}: unknown key {key!r}" + (f"; did you mean {hint[0]}?" if hint else "")
                             + " (see `simulator show` for every key)")
        if key in _FORBIDDEN_KEYS or key.startswith("sweep."):
            raise ValueError(f"{where}: {key} cannot be swept (the sweep sets it itself)")
        if key in seen:
            raise ValueError(f"{where}: key {key} appears twice in the grid")
        seen.add(key)
        values = _parse_values(text, where)
        grid.append((key, values))
    total = math.prod(len(v) for _, v in grid) if grid else 0
    if total > MAX_POINTS:
        raise ValueError(f"the grid has {total} points; at most {MAX_POINTS} are allowed")
    return grid


def _parse_values(text, where):
    if not text:
        raise ValueError(f"{where}: no values after '='")
    if ".." in text:
        m = _POW_RANGE_RE.match(text)
        if m:
            base, lo, base2, hi = (int(g) for g in m.groups())
            if base != 2 or base2 != 2:
                raise ValueError(f"{where}: a doubling range is 2^a..2^b (powers of two)")
            if lo > hi:
                raise ValueError(f"{where}: empty range (2^{lo} > 2^{hi})")
            return _capped([2 ** k for k in range(lo, hi + 1)], where)
        m = _INT_RANGE_RE.match(text)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > hi:
                raise ValueError(f"{where}: empty range ({lo} > {hi})")
            if hi - lo + 1 > MAX_POINTS:
                raise ValueError(f"{where}: the range has {hi - lo + 1} values; at most {MAX_POINTS} are allowed")
            return list(range(lo, hi + 1))
        raise ValueError(f"{where}: a range is a..b with integers a <= b, or 2^a..2^b (powers of two)")
    items = [s.strip() for s in text.split(",")]
    if any(not s for s in items):
        raise ValueError(f"{where}: empty value in the comma list")
    values = [parse_override_value(s) for s in items]
    for s, v in zip(items, values):
        if isinstance(v, (list, dict)):
            raise ValueError(f"{where}: {s!r} is not a single value")
    return values


def _capped(values, where):
    if len(values) > MAX_POINTS:
        raise ValueError(f"{where}: {len(values)} values; at most {MAX_POINTS} are allowed")
    return values


def points(grid):
    """The cartesian product of the grid: a list of ``{key: value}`` dicts, the first key varying slowest."""
    if not grid:
        return []
    keys = [k for k, _ in grid]
    return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in grid))]


# --------------------------------------------------------------------------- one point


def _load_point(scenario_source, overrides):
    """A Scenario from a name, a .toml path or TOML text (contains a newline), with overrides."""
    if "\n" in scenario_source:
        return scenario_from_dict(tomllib.loads(scenario_source), overrides=list(overrides))
    from simulator.config import load_scenario

    return load_scenario(scenario_source, overrides=list(overrides))


def _empty_row(index, point):
    row = {"point": int(index), **dict(point)}
    for c in ROW_COLUMNS:
        row[c] = -1 if c in _INT_COLUMNS else "" if c in ("status", "error", "validate", "def_4_5", "s004_contraction", "trace") \
            else float("nan")
    return row


def _numba_threads(threads):
    if threads:
        try:
            import numba

            numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
        except Exception:  # noqa: BLE001 - a thread count is only a hint
            pass


def run_point(scenario_source, overrides, out_path, index=0, point=None, threads=None):
    """Run one sweep point and validate its trace; never raises.

    ``scenario_source``: a scenario name, a .toml path, or resolved TOML text.
    ``overrides``: (key, value) pairs applied on top (the point's grid values).
    ``point``: {key: value} recorded in the row (default: ``dict(overrides)``).
    ``threads``: Numba threads for this worker (None: leave as is).
    Returns a flat row (see ROW_COLUMNS): status "completed" | "failed", with the error.
    """
    from simulator.engine.runner import InputError, RunFailed, run_scenario
    from simulator.engine.trace import Trace, write_validation
    from simulator.engine.validate import run_checks, outcome

    started = time.perf_counter()
    overrides = [tuple(o) for o in overrides]
    row = _empty_row(index, dict(overrides) if point is None else point)
    out_path = Path(out_path)
    row["trace"] = out_path.name
    row["status"] = "failed"
    pre_existing = out_path.exists()  # never touch a file this point did not write
    _numba_threads(threads)
    try:
        scenario = _load_point(scenario_source, overrides)
        row.update(n=scenario.data.n if scenario.data.n is not None else -1, m=scenario.network.m,
                   d=scenario.data.d if scenario.data.d is not None else -1, rho=scenario.theory.rho)
        run_scenario(scenario, out=out_path, overwrite=False, quiet=True)
        row["status"] = "completed"
    except (RunFailed, InputError, ConfigError) as exc:
        row["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - a point's failure is recorded, never raised
        row["error"] = f"{type(exc).__name__}: {exc}"
    if out_path.exists() and not pre_existing:
        try:
            with Trace(out_path) as tr:
                _row_from_trace(row, tr)
                results = run_checks(tr) if tr.iterations >= 0 and "loss" in tr else None
                attrs = dict(tr.attrs)
            if results is not None:
                verdict = outcome(results)
                write_validation(out_path, results, attrs={"outcome": verdict})
                row["validate"] = verdict
            # the theory's columns for the trace's model (seed 002: width_ratio, def_4_5)
            row.update({k: v for k, v in theory.sweep_columns(attrs, results).items() if k in ROW_COLUMNS})
        except Exception as exc:  # noqa: BLE001
            msg = f"validate: {type(exc).__name__}: {exc}"
            row["error"] = f"{row['error']}; {msg}" if row["error"] else msg
    else:
        row["trace"] = ""
    row["seconds"] = time.perf_counter() - started
    return row


def _row_from_trace(row, tr):
    a = tr.attrs
    for key in ("n", "m", "d"):
        if key in a:
            row[key] = int(a[key])
    for key in ("b", "lambda", "rho", "init_seconds"):
        if key in a:
            row[key] = float(a[key])
    if "loss" in tr:
        loss = tr["loss"]
        if loss.size:
            row["loss0"], row["loss"] = float(loss[0]), float(loss[-1])
    row["iterations"] = int(tr.iterations)
    if "step_seconds" in tr:
        steps = tr["step_seconds"]
        steps = steps[np.isfinite(steps)]
        if steps.size:
            row["median_step_seconds"] = float(np.median(steps))
    if "phase_flops" in tr:  # operations per step (indexes/ops.py): the sum over phases, median over steps
        flops = np.asarray(tr["phase_flops"], dtype=np.float64)
        if flops.ndim == 2 and flops.shape[0]:
            per_step = flops.sum(axis=1)
            per_step = per_step[np.isfinite(per_step)]
            if per_step.size:
                row["ops_per_step"] = float(np.median(per_step))


# --------------------------------------------------------------------------- the sweep


class SweepInputError(ValueError):
    """Bad sweep input (grid, scenario, output directory, scheduler); nothing was written."""


@dataclass
class SweepResult:
    name: str
    out_dir: Path
    grid: list
    rows: list = field(default_factory=list)
    csv_path: Path | None = None
    h5_path: Path | None = None
    seconds: float = 0.0
    workers: int = 0
    scheduler: str | None = None
    report: str = ""

    @property
    def keys(self):
        return [k for k, _ in self.grid]

    @property
    def completed(self):
        return sum(r["status"] == "completed" for r in self.rows)

    @property
    def failed(self):
        return sum(r["status"] != "completed" for r in self.rows)


def default_out_dir(name):
    return Path("outputs") / f"{name}-sweep-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare_sweep(name, grid_specs=(), overrides=(), out_dir=None, overwrite=False, fit=None):
    """Check everything a sweep needs before anything is written (``fit``: a key for
    :func:`fit_slope`, which must be a grid key with numeric values).

    Returns (scenario, grid, points, out_dir, grid_specs_used). Raises SweepInputError.
    """
    from simulator.engine.runner import InputError, load

    try:
        scenario = load(name, overrides)
    except InputError as exc:
        raise SweepInputError(str(exc)) from None
    specs = list(grid_specs) or list(scenario.sweep.grid)
    label = "--grid" if grid_specs else f"{scenario.source or scenario.name}: sweep.grid"
    if not specs:
        raise SweepInputError(f"no grid: give --grid KEY=VALUES (e.g. --grid network.m=2^10..2^14) or set "
                              f"[sweep] grid in scenario {scenario.name}")
    try:
        grid = parse_grid(specs)
    except ValueError as exc:
        raise SweepInputError(f"{label}: {exc}") from None
    if fit is not None:
        values = dict(grid).get(fit)
        if values is None:
            raise SweepInputError(f"--fit {fit}: not a grid key (grid keys: {', '.join(k for k, _ in grid)})")
        if not all(_num(v) and v > 0 for v in values):
            raise SweepInputError(f"--fit {fit}: the grid values must be positive numbers for a log-log fit")
    pts = points(grid)
    text = scenario_to_toml(scenario)
    keys = [k for k, _ in grid]
    for p in pts:  # every point must resolve; bad values are input errors, found before any run
        try:
            _load_point(text, list(p.items()))
        except ConfigError as exc:
            if exc.source == "--set" and exc.field in keys:
                raise SweepInputError(f"{label} {exc.field}={p[exc.field]!r}: {exc.problem}") from None
            raise SweepInputError(f"{label} point {p}: {exc}") from None
    out = Path(out_dir) if out_dir else default_out_dir(scenario.name)
    if out.exists() and not out.is_dir():
        raise SweepInputError(f"--out: {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise SweepInputError(f"--out: {out} is not empty; choose a new directory or pass --overwrite")
    return scenario, grid, pts, out, specs


def _make_executor(workers, scheduler):
    """(executor, closer, label): a process pool, or a Dask cluster's concurrent.futures executor."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise SweepInputError("--scheduler needs dask.distributed, which is not installed: "
                                  "pip install 'simulator[cluster]'") from None
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise SweepInputError(f"--scheduler: cannot connect to {scheduler}: {exc}") from None
        ex = client.get_executor(pure=False)

        def close(cancel=False):
            ex.shutdown(wait=not cancel)
            client.close()
        return ex, close
    # spawn: fresh interpreters, so no threads or Numba/OpenMP state of the parent are forked
    ex = cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

    def close(cancel=False):
        ex.shutdown(wait=not cancel, cancel_futures=cancel)
    return ex, close


def _clear_outputs(out):
    """--overwrite: remove what a sweep writes (point traces, summaries); other files stay."""
    for p in list(out.glob("point-*.h5")) + [out / "summary.csv", out / "summary.h5"]:
        if p.is_file():
            p.unlink()


def run_sweep(name, grid_specs=(), workers=None, out_dir=None, scheduler=None, progress=True, overrides=(),
              overwrite=False, fit=None):
    """Run scenario ``name`` over the grid; returns a SweepResult (rows sorted by point).

    ``grid_specs``: strings for :func:`parse_grid`; empty → the scenario's ``[sweep] grid``.
    ``workers``: worker processes (default: the scenario's ``sweep.workers``); ignored with
    ``scheduler`` (``tcp://HOST:PORT`` of a running Dask scheduler; the cluster's workers run
    the points and write into ``out_dir``, which they must all be able to reach).
    ``fit``: only checked here (a numeric grid key), for the caller's :func:`fit_slope`.
    Raises SweepInputError for bad input (nothing is written then).
    """
    scenario, grid, pts, out, specs = prepare_sweep(name, grid_specs, overrides, out_dir, overwrite, fit)
    workers = scenario.sweep.workers if workers is None else int(workers)
    if workers < 1:
        raise SweepInputError(f"--workers: must be a positive integer, got {workers}")
    executor, close = _make_executor(workers, scheduler)
    try:
        out.mkdir(parents=True, exist_ok=True)
        if overwrite:
            _clear_outputs(out)
    except OSError as exc:
        close(True)
        raise SweepInputError(f"--out: {exc}") from None
    out = out.resolve()
    text = scenario_to_toml(scenario)
    keys = [k for k, _ in grid]
    # Numba threads per worker: share the machine's cores among the local workers
    threads = None if scheduler else max(1, (os.cpu_count() or 1) // workers)
    result = SweepResult(scenario.name, out, grid, workers=workers, scheduler=scheduler,
                         report=scenario.sweep.report)
    started = time.perf_counter()
    rows = {}
    bar = _bar(len(pts), scenario.name, progress)
    cancel = False
    try:
        futures = {executor.submit(run_point, text, list(p.items()), str(out / f"point-{i:04d}.h5"), i, p,
                                   threads): i for i, p in enumerate(pts)}
        for fut in cf.as_completed(futures):
            interrupts.check()  # a Ctrl-C/SIGTERM whose exception was swallowed on the way
            i = futures[fut]
            try:
                row = fut.result()
            except Exception as exc:  # noqa: BLE001 - a dead worker fails its point only (Ctrl-C/SIGTERM propagate)
                row = _empty_row(i, pts[i])
                row.update(status="failed", error=f"worker: {type(exc).__name__}: {exc}",
                           trace=f"point-{i:04d}.h5")
            rows[i] = row
            bar.update(1)
            failed = sum(r["status"] != "completed" for r in rows.values())
            if failed:
                bar.set_postfix(failed=failed)
    except BaseException:
        cancel = True
        raise
    finally:
        bar.close()
        close(cancel)
        result.rows = [rows[i] for i in sorted(rows)]
        result.seconds = time.perf_counter() - started
        result.csv_path, result.h5_path = write_summary(out, result.rows, keys, attrs={
            "scenario_name": scenario.name, "grid": list(specs), "scenario_toml": text,
            "points": len(pts), "workers": workers, "scheduler": scheduler or "",
            "report": scenario.sweep.report, "seconds": result.seconds,
            "complete": len(rows) == len(pts)})
    return result


def _bar(total, name, progress):
    from tqdm import tqdm

    return tqdm(total=total, desc=f"sweep {name}", unit="point", leave=False,
                disable=not progress or not sys.stderr.isatty())


# --------------------------------------------------------------------------- summary table


def columns(rows, keys=None):
    """Column order: point, the grid keys, then ROW_COLUMNS."""
    if keys is None:
        keys = [k for k in (rows[0] if rows else {}) if k != "point" and k not in ROW_COLUMNS]
    return ["point", *keys, *ROW_COLUMNS]


def _csv_cell(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def write_summary(out_dir, rows, keys, attrs=None):
    """summary.csv and summary.h5 (one dataset per column; ``attrs`` on the root). Returns both paths."""
    import h5py

    from simulator import __version__

    out_dir = Path(out_dir)
    cols = columns(rows, keys)
    csv_path, h5_path = out_dir / "summary.csv", out_dir / "summary.h5"
    tmp = out_dir / ".summary.csv.partial"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for r in rows:
            w.writerow([_csv_cell(r.get(c, "")) for c in cols])
    os.replace(tmp, csv_path)
    tmp = out_dir / ".summary.h5.partial"
    with h5py.File(tmp, "w") as f:
        f.attrs["simulator_version"] = __version__
        f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        f.attrs["columns"] = cols
        f.attrs["grid_keys"] = list(keys)
        for k, v in (attrs or {}).items():
            f.attrs[k] = v
        for c in cols:
            values = [r.get(c) for r in rows]
            f.create_dataset(c, data=_column_array(values))
    os.replace(tmp, h5_path)
    return csv_path, h5_path


def _column_array(values):
    import h5py

    if values and all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.float64)
    return np.array(["" if v is None else _csv_cell(v) for v in values], dtype=h5py.string_dtype())


def _parse_cell(s):
    if s in ("true", "false"):
        return s == "true"
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def read_summary(path):
    """Rows of a summary.csv (or the summary.csv in a directory), cells typed back (int, float, bool, str)."""
    path = Path(path)
    if path.is_dir():
        path = path / "summary.csv"
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = [{k: (v if k in ("error", "trace") else _parse_cell(v)) for k, v in r.items()} for r in reader]
    except FileNotFoundError:
        raise SweepInputError(f"{path}: no such file (expected the summary.csv of a sweep)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SweepInputError(f"{path}: cannot read: {exc}") from None
    return rows


# --------------------------------------------------------------------------- reports


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def fit_slope(rows, key, y="median_step_seconds"):
    """Least-squares slope of log(y) against log(key) over completed points.

    Points sharing a value of ``key`` (differing in the other grid keys) are averaged first:
    the mean of log(y), i.e. their geometric mean, so every key value weighs the same.
    Returns (slope, number of distinct key values). Raises ValueError when there are fewer
    than two distinct positive values with a finite positive y.
    """
    groups = {}
    for r in rows:
        x, t = r.get(key), r.get(y)
        if r.get("status") != "completed" or not _num(x) or not _num(t):
            continue
        if x > 0 and t > 0 and math.isfinite(t):
            groups.setdefault(float(x), []).append(math.log(t))
    if len(groups) < 2:
        raise ValueError(f"--fit {key}: need completed points at two or more positive values of {key} "
                         f"with a measured {y}")
    xs = np.log(np.array(sorted(groups)))
    ys = np.array([np.mean(groups[x]) for x in sorted(groups)])
    slope = float(np.polyfit(xs, ys, 1)[0])
    return slope, len(groups)


#: bootstrap resamples and seed of `fit_loglog` (fixed: the same rows give the same interval)
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0
#: seed 002's cost per iteration (Thm 5.1), Õ(n²·m^0.76·d + n³): the exponent of m in its leading term
PAPER_M_EXPONENT = 0.76


@dataclass
class LogLogFit:
    """log y = intercept + slope·log x by least squares over the points (one per completed row)."""

    key: str
    y: str
    slope: float
    intercept: float
    se: float  # standard error of the slope (NaN with fewer than 3 points)
    ci_low: float  # bootstrap 95% percentile interval of the slope (NaN with fewer than 3 points)
    ci_high: float
    points: int
    values: int  # distinct values of the key among them


def _points(rows, key, y):
    xs, ys = [], []
    for r in rows:
        x, v = r.get(key), r.get(y)
        if r.get("status") != "completed" or not _num(x) or not _num(v):
            continue
        if x > 0 and v > 0 and math.isfinite(x) and math.isfinite(v):
            xs.append(math.log(x))
            ys.append(math.log(v))
    return np.array(xs), np.array(ys)


def _slopes(X, Y):
    """Least-squares slopes of the rows of Y against the rows of X (NaN where X is constant)."""
    Xc = X - X.mean(axis=-1, keepdims=True)
    Yc = Y - Y.mean(axis=-1, keepdims=True)
    sxx = np.einsum("...i,...i->...", Xc, Xc)
    sxy = np.einsum("...i,...i->...", Xc, Yc)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1.0), np.nan)


def fit_loglog(rows, key, y="ops_per_step", samples=BOOTSTRAP_SAMPLES, seed=BOOTSTRAP_SEED):
    """The exponent of ``y`` against ``key``: least squares of log(y) on log(key) over the completed
    points, every point on its own (points that share a value of ``key`` all count; with the same
    number of points at every value this slope equals ``fit_slope``'s on their log-means).

    Standard error: the textbook one, √(RSS/(N − 2) / Σ(x − x̄)²). Bootstrap: ``samples`` resamples of
    the N points with replacement (generator seeded with ``seed``, so reproducible), the slope of each
    (resamples whose points share one value of ``key`` are left out), and the 2.5 and 97.5 percentiles.
    Returns a LogLogFit. ValueError with fewer than two distinct positive values of ``key`` with a
    finite positive ``y``.
    """
    xs, ys = _points(rows, key, y)
    values = len(set(xs.tolist()))
    if values < 2:
        raise ValueError(f"--fit {key}: need completed points at two or more positive values of {key} "
                         f"with a measured {y}")
    N = xs.size
    slope, se, _ = loglog_fit(np.exp(xs), np.exp(ys))
    intercept = float(ys.mean() - slope * xs.mean())
    lo = hi = float("nan")
    if N > 2:
        idx = np.random.default_rng(seed).integers(0, N, size=(int(samples), N))
        boot = _slopes(xs[idx], ys[idx])
        boot = boot[np.isfinite(boot)]
        if boot.size:
            lo, hi = (float(v) for v in np.percentile(boot, [2.5, 97.5]))
    return LogLogFit(key, y, slope, intercept, se, lo, hi, int(N), values)


def paper_constant(rows, m_exponent=PAPER_M_EXPONENT):
    """The constant in front of seed 002's n²·m^0.76·d: per completed point with counted operations,
    C = ops_per_step / (n²·m^0.76·d). Returns (median, (25%, 75%) quantiles, (min, max), points), or
    None when no point has counts."""
    cs = []
    for r in rows:
        ops_, n, m, d = (r.get(k) for k in ("ops_per_step", "n", "m", "d"))
        if r.get("status") != "completed" or not all(_num(v) for v in (ops_, n, m, d)):
            continue
        if ops_ > 0 and math.isfinite(ops_) and n > 0 and m > 0 and d > 0:
            cs.append(ops_ / (n * n * m ** m_exponent * d))
    if not cs:
        return None
    c = np.array(cs)
    q1, med, q3 = np.percentile(c, [25, 50, 75])
    return float(med), (float(q1), float(q3)), (float(c.min()), float(c.max())), int(c.size)


def _fit_line(label, fit):
    interval = (f"bootstrap 95% [{fit.ci_low:.3f}, {fit.ci_high:.3f}]" if math.isfinite(fit.ci_low)
                else "no interval (fewer than 3 points)")
    se = f" ± {fit.se:.3f} (s.e.)" if math.isfinite(fit.se) else ""
    return (f"fit        log({label}) vs log({fit.key}): exponent {fit.slope:.3f}{se}, {interval}, "
            f"{fit.points} points at {fit.values} values")


def fit_lines(rows, key):
    """The lines `simulator sweep --fit KEY` prints after its slope line: the exponent of the counted
    operations per step and of seconds per step against KEY (least squares over the points, standard
    error, bootstrap 95% interval), and the constant C = ops/step / (n²·m^0.76·d) over the points.
    A quantity the rows lack is reported as such; never raises."""
    lines = []
    for y, label in (("ops_per_step", "median operations/step"), ("median_step_seconds", "median s/step")):
        try:
            lines.append(_fit_line(label, fit_loglog(rows, key, y)))
        except ValueError:
            lines.append(f"fit        log({label}) vs log({key}): not enough completed points with {y}")
    c = paper_constant(rows)
    if c is None:
        lines.append("constant   no operation counts in the summary (ops_per_step)")
    else:
        med, (q1, q3), (lo, hi), k = c
        lines.append(f"constant   C = ops/step / (n²·m^{PAPER_M_EXPONENT}·d) = {med:.4g} (median of {k} points; "
                     f"quartiles {q1:.4g}–{q3:.4g}, range {lo:.4g}–{hi:.4g})")
    return lines


def summary_report(path, default="width-threshold"):
    """The report a sweep's summary names (attr ``report`` of its summary.h5), else ``default``
    (summaries written before the attr, or a directory holding only summary.csv)."""
    import h5py

    path = Path(path)
    h5 = (path if path.is_dir() else path.parent) / "summary.h5"
    try:
        with h5py.File(h5, "r") as f:
            name = f.attrs.get("report", "")
    except (OSError, ValueError):
        return default
    name = name.decode() if isinstance(name, bytes) else str(name)
    return name or default


def format_report(name, rows):
    """The markdown of the sweep report ``name`` (``[sweep] report``) over summary rows; "" for no report.

    Reports are looked up in ``simulator.theory.REPORTS`` (e.g. "width-threshold": seed 002's
    observed width threshold beside Thm 4.1's requirement). ValueError for an unknown name.
    """
    if not name:
        return ""
    if name not in theory.REPORTS:
        raise ValueError(f"unknown sweep report {name!r}; known: {', '.join(theory.REPORTS)}")
    compute, fmt = theory.REPORTS[name]
    return fmt(compute(rows))
