"""Trace files: one HDF5 file per run, written as the run goes.

Layout (docs/architecture.md, "Engine and traces")::

    /                 attrs: schema_version, status (running|completed|failed|
                      interrupted), error, created, finished, simulator/python/
                      numpy/numba/h5py/hdf5 versions, platform, writer_pid,
                      writer_host, the caller's attrs (scenario_name,
                      scenario_toml, seed, solver, ...) and the theory constants
                      (b, lambda, delta, R0, ...) as soon as they are set.
    /data/X, y, a, W0 problem data (W0 omitted above a size limit; then the
                      attrs of /data say so and how to regenerate it)
    /trace/t          dimension scale "t" = 0, 1, ..., T (the committed states)
    /trace/step       dimension scale "step" = 1, ..., K (the committed steps)
    /trace/<name>     one resizable, chunked dataset per metric, first axis
                      attached to "t" (kind "state") or "step" (kind "step");
                      attrs units, description, kind (+ metric-specific ones,
                      e.g. quantiles, phases)
    /final/<name>     final predictions, weights or their implicit form
    /validation/<check>  one group per check, written by `write_validation`

Row semantics: row t of a *state* metric is the state after t steps (row 0 is
the initial state).  Row k of a *step* metric is the cost of step k+1 (the step
from state k to state k+1), so a run of T iterations has T+1 state rows and T
step rows.  A metric that is not computed at some row (a cadence metric, or a
``None`` value) holds the fill value there: NaN for floats, -1 for integers,
False for booleans.  float64 is stored as float64 (smaller floats are widened),
integers as int64, strings as UTF-8 variable-length strings.

Crash guarantee
---------------
A writer process killed at any moment -- SIGKILL included, so no Python code
runs -- leaves at ``path`` a file that ``Trace(path)`` opens, whose status is
``running`` (or the final status, if ``finish`` got that far), and which holds
every iteration whose ``append_*`` call returned.  (Process death only: the OS
still holds every byte written before the kill.  Power loss / kernel crash
needs fsync and is not covered.)  How:

* **Appends use HDF5 SWMR.**  While rows are appended the file is open in
  single-writer/multiple-reader mode (``libver=('v110', 'v110')``,
  ``swmr_mode = True``).  HDF5 then orders its metadata writes ("flush
  dependencies") so that the bytes on disk form a consistent file at *every*
  moment -- that is what lets a concurrent reader open it, and a dead writer is
  indistinguishable from a paused one.  Each append writes the rows of every
  dataset and calls ``H5Fflush``; then extends the scale ``step`` and flushes;
  then extends the scale ``t`` and flushes.  (One flush per stage matters:
  within a single flush HDF5 orders writes only as SWMR consistency needs, and
  a stress run with one flush for both scales did produce a file with state
  row t committed but step row t-1 not.)  The scale lengths are the commit
  record: a dataset may hold an extra, uncommitted row after a kill, but
  ``Trace`` slices every dataset to ``len(/trace/t)`` rows (state) or
  ``min(len(/trace/step), T)`` rows (step), so every dataset shows the same
  number of complete rows.
* **Structural changes never happen in place.**  SWMR forbids creating
  datasets, groups or attributes while in SWMR mode, and a file killed while
  open for ordinary (non-SWMR) writing is neither guaranteed consistent nor
  even openable (its superblock says "already open for write" and HDF5 refuses
  it without ``h5clear``).  So every structural change (``set_attrs``,
  ``write_data``, ``describe``, a metric's first row, ``write_final``,
  ``finish``) is done copy-on-write: close the live file cleanly, copy it to
  ``.<name>.partial-<pid>`` next to it, change the copy, enter SWMR mode on the
  copy (which flushes it completely) and ``os.replace`` it over ``path`` while
  it stays open -- the writer keeps writing to the same inode, now published.
  ``finish`` closes the copy normally before the rename, so a finished file is
  a plain, clean HDF5 file.  ``path`` therefore always names either a cleanly
  closed file or a file in SWMR mode; a kill during a structural change
  leaves the previous version (and a stale ``.partial-<pid>`` file, removed
  by the next ``TraceWriter.create`` of the same path).  A run copies the file
  a handful of times (creation, set_attrs, write_data, first state row, first
  step row, each metric that first appears later, write_final + finish), not
  once per iteration -- so do not call ``set_attrs`` every iteration.
* **Readers** open with ``h5py.File(path, 'r')`` and, when HDF5 refuses
  because the file is flagged as open by a (live or dead) SWMR writer, with
  ``swmr=True`` -- which reads a consistent file.  Raw h5py users must do the
  same and slice rows to the scale lengths.  ``write_validation`` rebuilds
  such a file (writer dead) as a clean one.

Checked empirically: ``tests/test_trace.py::test_sigkill_at_random_moments_*``
SIGKILLs 15 children per run at random moments (during appends, during the
structural copies at start-up, during ``finish``), and a stress run of 500
such kills found every file opening, ``running`` (or ``completed`` if the kill
came after the final rename), holding every reported iteration with exact
values.  What does *not* work: the same writer without SWMR on the v110 format
leaves a file HDF5 refuses to open ("file is already open for write") after
every kill; the old format (v108) with ``flush()`` per iteration survived our
kill tests but has no ordering guarantee during a flush or a metadata-cache
eviction, so it is not used.

Cost: an append of ~20 metrics (two of shape (200,)) takes about 1.2 ms.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shutil
import socket
import sys
from importlib import metadata as _metadata
from typing import Any, Mapping, NamedTuple

import h5py
import numpy as np

__all__ = [
    "SCHEMA_VERSION",
    "LIBVER",
    "DEFAULT_W0_LIMIT",
    "TraceError",
    "MetricSpec",
    "METRICS",
    "METRIC_ATTRS",
    "DRIFT_QUANTILES",
    "TraceWriter",
    "Trace",
    "write_validation",
]

SCHEMA_VERSION = 1
#: HDF5 format bounds: SWMR needs the 1.10 format; capping it there keeps the
#: files readable by every HDF5 >= 1.10 (h5py >= 2.5).
LIBVER = ("v110", "v110")
#: /data/W0 is written only while m*d is at most this many elements.
DEFAULT_W0_LIMIT = 10_000_000
#: quantile levels of /trace/drift_quantiles (also stored as its attr ``quantiles``)
DRIFT_QUANTILES = (0.5, 0.9, 0.99, 0.999, 1.0)

STATUSES = ("running", "completed", "failed", "interrupted")
STATE, STEP = "state", "step"
_SCALE = {STATE: "t", STEP: "step"}
_SCALE_NAMES = frozenset(_SCALE.values())


class TraceError(Exception):
    """A file that is not a readable simulator trace (or one this version cannot read)."""


class MetricSpec(NamedTuple):
    units: str
    description: str
    kind: str  # "state" (row t = state after t steps) or "step" (row k = step k+1)


_D = "dimensionless"
#: The known metrics.  Unknown names can still be written (kind from the append
#: method used, units/description from ``TraceWriter.describe`` or "").
METRICS: dict[str, MetricSpec] = {
    # --- state metrics: row t = after t steps, row 0 = initial state
    "loss": MetricSpec(_D, "training loss 1/2 ||f - y||_2^2", STATE),
    "residual_norm": MetricSpec(_D, "residual norm ||f - y||_2", STATE),
    "fire_count": MetricSpec("count", "per data point i: number of neurons firing on x_i, |S_i,fire|; shape (n,)", STATE),
    "union_fire": MetricSpec("count", "number of neurons firing on at least one data point, |union_i S_i,fire|", STATE),
    "flips": MetricSpec("count", "per data point i: number of neurons whose activation on x_i differs from t = 0; shape (n,)", STATE),
    "drift_max": MetricSpec(_D, "max over neurons r of ||w_r(t) - w_r(0)||_2", STATE),
    "drift_quantiles": MetricSpec(_D, "quantiles of the per-neuron drift ||w_r(t) - w_r(0)||_2 at the levels in attr 'quantiles'; shape (5,)", STATE),
    "drift_fro": MetricSpec(_D, "Frobenius norm of the trained weights' change, ||W(t) - W(0)||_F (multilayer: of W_L)", STATE),
    "moved_fraction": MetricSpec("fraction", "fraction of neurons whose weight vector differs from its initial value", STATE),
    "lambda_min": MetricSpec(_D, "smallest eigenvalue of the NTK Gram matrix H(t)", STATE),
    "lambda_max": MetricSpec(_D, "largest eigenvalue of the NTK Gram matrix H(t)", STATE),
    "gram_dev_fro": MetricSpec(_D, "Frobenius norm ||H(t) - H(0)||_F of the Gram matrix deviation", STATE),
    "eigvals": MetricSpec(_D, "eigenvalues of the NTK Gram matrix H(t), ascending; shape (n,)", STATE),
    # --- step metrics: row k = the step from state k to state k+1
    "reg_iterations": MetricSpec("count", "iterations of the inner regression solve in this step", STEP),
    "reg_residual": MetricSpec(_D, "relative residual of the inner regression solve at exit", STEP),
    "sketch_eps": MetricSpec(_D, "measured subspace-embedding distortion epsilon of this step's sketch", STEP),
    "phase_seconds": MetricSpec("s", "wall-clock seconds of each phase of this step (names in attr 'phases'); shape (P,)", STEP),
    "step_seconds": MetricSpec("s", "wall-clock seconds of the solver step alone (metrics and I/O excluded)", STEP),
    "nodes_touched": MetricSpec("count", "threshold-search tree nodes visited or updated in this step", STEP),
    "memberships_changed": MetricSpec("count", "fire-set memberships (i, r) added or removed by this step's index update (direct incidence index)", STEP),
    "neurons_changed": MetricSpec("count", "neurons whose weights changed in this step", STEP),
    "fire_total": MetricSpec("count", "fire-set incidences used by this step, sum_i |S_i,fire(t)| (the nonzero rows of J_t^T, times d)", STEP),
    "sketch_rows": MetricSpec("count", "rows s of the sketch S applied to J_t^T in this step", STEP),
    "move_max": MetricSpec(_D, "max_r ||w_r(t+1) - w_r(t)||: the largest move of one neuron in this step", STEP),
    # half-space-reporting indexes (seed 001): the cost of Lemma 4.1 in counts
    "query_nodes": MetricSpec("count", "index nodes visited by this step's fire-set queries", STEP),
    "update_nodes": MetricSpec("count", "index nodes changed by this step's updates of the moved neurons", STEP),
    "rebuilds": MetricSpec("count", "rebuilds of the index's structure in this step", STEP),
    "candidates": MetricSpec("count", "sum_i of the candidate superset queried for S_i (drift-slack index), before the exact filter", STEP),
    # approximate indexes (LSH): how far the run is from exact gradient descent
    "missed": MetricSpec("count", "sum_i of the neurons firing on x_i that the approximate index did not report (this step)", STEP),
    "false_reported": MetricSpec("count", "sum_i of the neurons the approximate index reported for x_i that do not fire (this step)", STEP),
    # the multilayer network (seed 004)
    "phase_flops": MetricSpec("flop", "counted floating-point operations of each phase of this step (names in attr 'phases'); shape (P,)", STEP),
    "step_rank": MetricSpec("count", "rank of this step's change of W_L, -sum_i g_i u_i v_i^T (at most n)", STEP),
    "delta_rank": MetricSpec("count", "rank of the stored low-rank part of W_L(t) - W_L(0) after this step (columns of its factors; 0 once folded into the dense matrix)", STEP),
    "folds": MetricSpec("count", "folds of the low-rank factors into the dense matrix in this step", STEP),
    "step_fro_sq": MetricSpec(_D, "||W_L(t+1) - W_L(t)||_F^2 measured from the stored change", STEP),
    "gGg": MetricSpec(_D, "g^T G_t g for this step's g and the exact G_t (equals step_fro_sq by the identity of docs/theory.md §9)", STEP),
    "loss_gap": MetricSpec(_D, "loss of this run minus the loss of exact gradient descent from the same start, after this step", STEP),
}

#: Extra dataset attrs written automatically for registered metrics.
METRIC_ATTRS: dict[str, dict[str, Any]] = {
    "drift_quantiles": {"quantiles": list(DRIFT_QUANTILES)},
}

_SCALE_SPECS = {
    "t": MetricSpec("count", "iteration t: row t of a state metric is the state after t steps (0 = initial)", STATE),
    "step": MetricSpec("count", "step number s: row s-1 of a step metric is the cost of the step from state s-1 to s", STEP),
}


# --------------------------------------------------------------------------- helpers

def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def _pkg_version(name: str) -> str:
    mod = sys.modules.get(name)
    v = getattr(mod, "__version__", None) if mod is not None else None
    if v:
        return str(v)
    try:
        return _metadata.version(name)
    except _metadata.PackageNotFoundError:
        return "not installed"


def _environment_attrs() -> dict[str, Any]:
    return {
        "simulator_version": _pkg_version("simulator"),
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
        "numba_version": _pkg_version("numba"),
        "h5py_version": h5py.version.version,
        "hdf5_version": h5py.version.hdf5_version,
        "platform": platform.platform(),
        "writer_pid": os.getpid(),
        "writer_host": socket.gethostname(),
    }


_STR = h5py.string_dtype("utf-8")


def _attr_value(key: str, value: Any) -> Any:
    """Normalise a value for an HDF5 attribute (float64 / int64 / UTF-8 strings)."""
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    if isinstance(value, (int, np.integer)):
        return np.int64(value)
    if isinstance(value, (float, np.floating)):
        return np.float64(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value)
        if arr.dtype.kind in "US" or (arr.dtype.kind == "O" and all(isinstance(v, str) for v in arr.ravel())):
            return np.array([str(v) for v in arr.ravel()], dtype=_STR).reshape(arr.shape)
        if arr.dtype.kind == "b":
            return arr.astype(np.bool_)
        if arr.dtype.kind in "iu":
            return arr.astype(np.int64)
        if arr.dtype.kind == "f":
            return arr.astype(np.float64)
    raise TypeError(f"attribute {key!r}: cannot store a value of type {type(value).__name__} "
                    "(use str, int, float, bool or a list/array of them)")


def _set_attrs(obj, attrs: Mapping[str, Any]) -> None:
    for k, v in attrs.items():
        if v is None:
            if k in obj.attrs:
                del obj.attrs[k]
            continue
        v = _attr_value(k, v)
        if isinstance(v, str):
            obj.attrs.create(k, v, dtype=_STR)
        else:
            obj.attrs[k] = v


def _decode(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return [_decode(x) for x in v.tolist()] if v.ndim else _decode(v[()])
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, list):
        return [_decode(x) for x in v]
    return v


def _as_array(name: str, value: Any) -> np.ndarray:
    """float -> float64, int -> int64, bool stays bool; anything else is an error."""
    arr = np.asarray(value)
    k = arr.dtype.kind
    if k == "f":
        return arr.astype(np.float64, copy=False)
    if k in "iu":
        return arr.astype(np.int64, copy=False)
    if k == "b":
        return arr.astype(np.bool_, copy=False)
    if k in "US":
        return np.array([str(v) for v in arr.ravel()], dtype=_STR).reshape(arr.shape)
    raise TypeError(f"{name!r}: cannot store values of dtype {arr.dtype} (need float, int or bool)")


def _fill_for(dtype: np.dtype):
    if dtype.kind == "f":
        return np.nan
    if dtype.kind == "b":
        return False
    return -1


def _partial_path(path: str) -> str:
    d, base = os.path.split(path)
    return os.path.join(d, f".{base}.partial-{os.getpid()}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_partials(path: str) -> None:
    d, base = os.path.split(path)
    prefix = f".{base}.partial-"
    try:
        entries = os.listdir(d or ".")
    except OSError:
        return
    for e in entries:
        if e.startswith(prefix):
            try:
                pid = int(e[len(prefix):])
            except ValueError:
                continue
            if pid != os.getpid() and not _pid_alive(pid):
                try:
                    os.remove(os.path.join(d, e))
                except OSError:
                    pass


def _open_for_read(path: str) -> h5py.File:
    """Open a trace read-only, also when its writer is running or died (SWMR flags)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise TraceError(f"{path}: no such file")
    if os.path.isdir(path):
        raise TraceError(f"{path}: is a directory, not a trace file")
    try:
        if not h5py.is_hdf5(path):
            raise TraceError(f"{path}: not an HDF5 file (so not a simulator trace)")
    except OSError as e:
        raise TraceError(f"{path}: cannot read: {e}") from e
    errors = []
    for kw in ({}, {"swmr": True}, {"locking": False}, {"swmr": True, "locking": False}):
        try:
            return h5py.File(path, "r", **kw)
        except OSError as e:
            errors.append(str(e))
    raise TraceError(f"{path}: HDF5 file cannot be opened: {errors[-1]}")


def _check_schema(path: str, f: h5py.File) -> int:
    if "schema_version" not in f.attrs:
        raise TraceError(f"{path}: not a simulator trace (no schema_version)")
    try:
        v = int(f.attrs["schema_version"])
    except (TypeError, ValueError):
        raise TraceError(f"{path}: not a simulator trace (schema_version "
                         f"{f.attrs['schema_version']!r} is not an integer)") from None
    if v > SCHEMA_VERSION:
        raise TraceError(f"{path}: schema_version {v} is newer than this simulator reads "
                         f"({SCHEMA_VERSION}); upgrade the simulator")
    if v < 1:
        raise TraceError(f"{path}: unknown schema_version {v} (this simulator reads {SCHEMA_VERSION})")
    return v


# --------------------------------------------------------------------------- writer

class TraceWriter:
    """Writes one trace file as a run goes.  See the module docstring for the crash guarantee.

    Typical use::

        with TraceWriter.create(path, overwrite=False, attrs={...}) as tw:
            tw.set_attrs(b=..., **{"lambda": lam}, delta=..., R0=...)
            tw.write_data(X=X, y=y, a=a, W0=W0)
            tw.describe("phase_seconds", phases=["query", "solve", "update"])
            tw.append_state(0, {"loss": ..., ...})
            for t in range(1, T + 1):
                rec = solver.step()
                tw.append_iteration(t, state={...}, step={...})
            tw.write_final({"f": f})
            tw.finish("completed")

    Each ``append_*`` returns only after its rows are committed to the file.
    Leaving the ``with`` block by an exception marks the file ``failed`` (with
    the message), by KeyboardInterrupt ``interrupted``, and normally (without
    ``finish``) ``completed``; the exception is re-raised.
    """

    def __init__(self, path: str, *, overwrite: bool = False, _internal: bool = False):
        if not _internal:
            raise TypeError("use TraceWriter.create(path, ...)")
        self.path = os.path.abspath(os.fspath(path))
        self._overwrite = overwrite
        self._partial = _partial_path(self.path)
        self._f: h5py.File | None = None
        self._staging = False       # True: self._f is the private copy at self._partial
        self._published = False     # path has been created by us
        self._finished: str | None = None
        self._rows = {STATE: 0, STEP: 0}
        self._kinds: dict[str, str] = {}                       # metric -> kind
        self._rowinfo: dict[str, tuple[tuple, np.dtype]] = {}   # metric -> (row shape, dtype)
        self._ids: dict[str, Any] = {}                          # cached low-level dataset ids
        self._pending: dict[str, dict[str, Any]] = {}   # describe() for metrics not yet created

    # ------------------------------------------------------------ creation
    @classmethod
    def create(cls, path, *, overwrite: bool = False, attrs: Mapping[str, Any] | None = None) -> "TraceWriter":
        """Create a new trace at ``path`` (status ``running``) and return its writer.

        Raises FileExistsError if ``path`` exists and not ``overwrite``;
        FileNotFoundError / NotADirectoryError / PermissionError if its directory
        does not exist or is not writable (directories are never created here).
        """
        path = os.path.abspath(os.fspath(path))
        d = os.path.dirname(path)
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path}: is a directory; give a file name for the trace")
        if not os.path.exists(d):
            raise FileNotFoundError(f"{path}: output directory {d} does not exist")
        if not os.path.isdir(d):
            raise NotADirectoryError(f"{path}: {d} is not a directory")
        if not os.access(d, os.W_OK | os.X_OK):
            raise PermissionError(f"{path}: output directory {d} is not writable")
        if os.path.lexists(path) and not overwrite:
            raise FileExistsError(f"{path}: file exists; refusing to overwrite it (use --overwrite)")
        _remove_stale_partials(path)
        self = cls(path, overwrite=overwrite, _internal=True)
        f = h5py.File(self._partial, "w", libver=LIBVER)
        self._f, self._staging = f, True
        try:
            root = {"schema_version": SCHEMA_VERSION, "status": "running", "error": "",
                    "created": _now(), "finished": ""}
            root.update(_environment_attrs())
            root.update(dict(attrs or {}))
            root["schema_version"] = SCHEMA_VERSION   # not overridable
            root["status"] = "running"
            _set_attrs(f, root)
            self._publish()
        except BaseException:
            self._abandon()
            raise
        return self

    # ------------------------------------------------------------ structural changes
    def set_attrs(self, values: Mapping[str, Any] | None = None, /, **attrs: Any) -> None:
        """Set root attributes (e.g. theory constants b, lambda, delta, R0) now.

        ``lambda`` is a Python keyword: pass ``set_attrs({"lambda": x, "b": b})``
        or ``set_attrs(**{"lambda": x})``.  A value of None removes the attribute.
        Each call is a structural change (one copy of the file): batch them.
        """
        attrs = {**dict(values or {}), **attrs}
        for reserved in ("schema_version", "status"):
            if reserved in attrs:
                raise ValueError(f"{reserved!r} is managed by the writer (use finish() for status)")
        f = self._stage()
        _set_attrs(f, attrs)
        self._publish()

    def write_data(self, *, X=None, y=None, a=None, W0=None, w0_limit: int = DEFAULT_W0_LIMIT,
                   note: str = "", attrs: Mapping[str, Any] | None = None, **arrays: Any) -> None:
        """Write the problem data into /data (float64 / int64, never down-cast).

        W0 is stored only while ``W0.size <= w0_limit``; otherwise /data gets
        ``W0_omitted = True`` plus ``W0_shape`` and ``note`` (say how to
        regenerate it, e.g. "init stream of seed 7").
        """
        f = self._stage()
        g = f.require_group("data")
        items = {"X": X, "y": y, "a": a, **arrays}
        for name, v in items.items():
            if v is None:
                continue
            if name in g:
                del g[name]
            g.create_dataset(name, data=_as_array(name, v))
        if W0 is not None:
            W0 = np.asarray(W0)
            if "W0" in g:
                del g["W0"]
            if W0.size <= w0_limit:
                g.create_dataset("W0", data=_as_array("W0", W0))
                _set_attrs(g, {"W0_omitted": False})
            else:
                _set_attrs(g, {"W0_omitted": True, "W0_shape": list(W0.shape),
                               "W0_limit": int(w0_limit)})
        if note:
            _set_attrs(g, {"note": note})
        if attrs:
            _set_attrs(g, attrs)
        self._publish()

    def describe(self, name: str, *, units: str | None = None, description: str | None = None,
                 kind: str | None = None, **attrs: Any) -> None:
        """Set units/description/kind/extra attrs (e.g. ``phases=[...]``) of a metric.

        Best called before the metric's first row (then it costs nothing);
        afterwards it updates the dataset's attrs.
        """
        if kind is not None and kind not in (STATE, STEP):
            raise ValueError(f"kind must be 'state' or 'step', not {kind!r}")
        spec = {k: v for k, v in (("units", units), ("description", description)) if v is not None}
        spec.update(attrs)
        if kind is not None:
            known = METRICS.get(name)
            if known is not None and known.kind != kind:
                raise ValueError(f"metric {name!r} is a {known.kind} metric, not {kind}")
            spec["kind"] = kind
        f = self._f
        if f is not None and "trace" in f and name in f["trace"]:
            if "kind" in spec and spec["kind"] != self._kinds.get(name):
                raise ValueError(f"metric {name!r} already exists as a {self._kinds.get(name)} metric")
            f = self._stage()
            _set_attrs(f["trace"][name], spec)
            self._publish()
        else:
            self._pending.setdefault(name, {}).update(spec)

    def write_final(self, values: Mapping[str, Any], attrs: Mapping[str, Any] | None = None) -> None:
        """Write arrays/scalars into /final/<name> ("a/b" names make subgroups)."""
        f = self._stage()
        g = f.require_group("final")
        for name, v in values.items():
            if name in g:
                del g[name]
            g.create_dataset(name, data=_as_array(name, v))
        if attrs:
            _set_attrs(g, attrs)
        self._publish()

    def finish(self, status: str = "completed", error: str | None = None) -> None:
        """Set the final status (completed|failed|interrupted), error and finished time; close."""
        if status not in STATUSES[1:]:
            raise ValueError(f"status must be one of {STATUSES[1:]}, not {status!r}")
        if self._finished is not None:
            raise RuntimeError(f"{self.path}: trace already finished ({self._finished})")
        f = self._stage()
        _set_attrs(f, {"status": status, "error": error or "", "finished": _now(),
                       "iterations": max(self._rows[STATE] - 1, 0), "steps": self._rows[STEP]})
        self._f = None
        self._ids.clear()
        f.close()
        os.replace(self._partial, self.path)
        self._staging = False
        self._finished = status

    # ------------------------------------------------------------ appends
    def append_state(self, t: int, values: Mapping[str, Any]) -> None:
        """Append row ``t`` (must be the next row) of the state metrics; commits + flushes."""
        self._append({STATE: (t, values)})

    def append_step(self, k: int, values: Mapping[str, Any]) -> None:
        """Append row ``k`` (the step from state k to k+1; must be the next row); commits + flushes."""
        self._append({STEP: (k, values)})

    def append_iteration(self, t: int, state: Mapping[str, Any] | None = None,
                         step: Mapping[str, Any] | None = None) -> None:
        """Append step row t-1 and state row t in one commit (the usual per-iteration call)."""
        parts = {}
        if step is not None:
            parts[STEP] = (t - 1, step)
        if state is not None:
            parts[STATE] = (t, state)
        if parts:
            self._append(parts)

    def flush(self) -> None:
        """Make everything written so far durable against a kill (appends already do this)."""
        if self._f is None:
            return
        if self._staging:
            self._publish()
        else:
            self._f.flush()

    @property
    def rows(self) -> dict[str, int]:
        """Committed rows: {"state": T+1, "step": K}."""
        return dict(self._rows)

    def close(self) -> None:
        """Close without changing the status (an unfinished trace stays ``running``)."""
        if self._f is not None:
            f, self._f = self._f, None
            self._ids.clear()
            if self._staging:
                f.close()
                os.replace(self._partial, self.path)
                self._staging = False
            else:
                f.close()

    def __enter__(self) -> "TraceWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self._finished is not None:
            return False
        try:
            if exc_type is None:
                self.finish("completed")
            elif issubclass(exc_type, KeyboardInterrupt):
                self.finish("interrupted", f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__)
            else:
                msg = f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__
                self.finish("failed", msg)
        except BaseException:
            if exc_type is None:
                raise
            # never mask the original exception; leave the file as it is (running)
            try:
                self.close()
            except BaseException:
                pass
        return False

    # ------------------------------------------------------------ internals
    def _check_open(self) -> None:
        if self._finished is not None:
            raise RuntimeError(f"{self.path}: trace already finished ({self._finished})")

    def _stage(self) -> h5py.File:
        """Return a file handle on which structural changes are safe (the private copy)."""
        self._check_open()
        if self._staging and self._f is not None:
            return self._f
        if self._f is not None:
            f, self._f = self._f, None
            f.close()                      # clean close: path is now a plain, consistent file
        self._ids.clear()
        shutil.copyfile(self.path, self._partial)
        self._f = h5py.File(self._partial, "r+", libver=LIBVER)
        self._staging = True
        return self._f

    def _publish(self) -> None:
        """Enter SWMR mode on the private copy (flushes it completely) and rename it over path."""
        f = self._f
        assert f is not None and self._staging
        f.swmr_mode = True
        if not self._published and not self._overwrite:
            try:
                os.link(self._partial, self.path)        # atomic "create if absent"
            except FileExistsError:
                self._abandon()
                raise FileExistsError(f"{self.path}: file exists; refusing to overwrite it "
                                      "(use --overwrite)") from None
            except OSError:                               # no hard links on this file system
                if os.path.lexists(self.path):
                    self._abandon()
                    raise FileExistsError(f"{self.path}: file exists; refusing to overwrite it "
                                          "(use --overwrite)") from None
                os.replace(self._partial, self.path)
            else:
                os.unlink(self._partial)
        else:
            os.replace(self._partial, self.path)
        self._published = True
        self._staging = False

    def _abandon(self) -> None:
        self._ids.clear()
        if self._f is not None:
            try:
                self._f.close()
            except Exception:
                pass
            self._f = None
        if self._staging:
            try:
                os.remove(self._partial)
            except OSError:
                pass
            self._staging = False

    def _spec_attrs(self, name: str, kind: str) -> dict[str, Any]:
        spec = METRICS.get(name)
        attrs: dict[str, Any] = {"units": "", "description": "", "kind": kind}
        if spec is not None:
            attrs.update(units=spec.units, description=spec.description)
        attrs.update(METRIC_ATTRS.get(name, {}))
        attrs.update({k: v for k, v in self._pending.get(name, {}).items()})
        attrs["kind"] = kind
        return attrs

    def _create_scale(self, f: h5py.File, kind: str) -> None:
        sname = _SCALE[kind]
        g = f.require_group("trace")
        if sname in g:
            return
        ds = g.create_dataset(sname, shape=(0,), maxshape=(None,), chunks=(1024,),
                              dtype=np.int64, fillvalue=-1)
        spec = _SCALE_SPECS[sname]
        _set_attrs(ds, {"units": spec.units, "description": spec.description, "kind": kind})
        ds.make_scale(sname)

    def _create_metric(self, f: h5py.File, name: str, kind: str, row: np.ndarray, nrows: int) -> None:
        if "/" in name or name in _SCALE_NAMES or not name:
            raise ValueError(f"invalid metric name {name!r}")
        g = f.require_group("trace")
        dtype = _STR if row.dtype.kind == "O" else row.dtype
        item = max(1, int(np.prod(row.shape, dtype=np.int64))) * (8 if dtype == _STR else row.dtype.itemsize)
        chunk_rows = int(max(1, min(1024, (1 << 16) // item)))
        kw = {} if dtype == _STR else {"fillvalue": _fill_for(row.dtype)}
        ds = g.create_dataset(name, shape=(nrows,) + row.shape, maxshape=(None,) + row.shape,
                              chunks=(chunk_rows,) + row.shape, dtype=dtype, **kw)
        _set_attrs(ds, self._spec_attrs(name, kind))
        ds.dims[0].attach_scale(g[_SCALE[kind]])
        ds.dims[0].label = _SCALE[kind]
        self._kinds[name] = kind
        self._rowinfo[name] = (tuple(row.shape), ds.dtype)
        self._pending.pop(name, None)

    def _write_row(self, name: str, row: int, arr: np.ndarray | None) -> None:
        """Extend /trace/<name> to row+1 rows and write row ``row`` (low-level h5py: fast)."""
        if name in _SCALE_NAMES:
            shape, dtype = (), np.dtype(np.int64)
        else:
            shape, dtype = self._rowinfo[name]
        dsid = self._ids.get(name)
        if dsid is None:
            dsid = self._ids[name] = self._f["trace"][name].id
        dsid.set_extent((row + 1,) + shape)
        if arr is None:
            return                      # the new row holds the fill value
        if dtype.kind == "O":           # strings: rare, use the high-level path
            h5py.Dataset(dsid)[row] = arr
            return
        fspace = dsid.get_space()
        fspace.select_hyperslab((row,) + (0,) * len(shape), (1,) + shape)
        mspace = h5py.h5s.create_simple((1,) + shape)
        dsid.write(mspace, fspace, np.ascontiguousarray(arr, dtype=dtype).reshape((1,) + shape))

    def _append(self, parts: dict[str, tuple[int, Mapping[str, Any]]]) -> None:
        self._check_open()
        # ---- validate everything before touching the file
        prepared: dict[str, tuple[int, dict[str, np.ndarray | None]]] = {}
        for kind, (row, values) in parts.items():
            if isinstance(row, (bool, np.bool_)) or not isinstance(row, (int, np.integer)):
                raise TypeError(f"{kind} row index must be an int, not {row!r}")
            row = int(row)
            expected = self._rows[kind]
            if row != expected:
                raise ValueError(f"{self.path}: {kind} row {row} appended, but the next {kind} row is "
                                 f"{expected} (rows must be appended in order, once each)")
            if kind == STEP:
                n_state = self._rows[STATE]
                if row >= n_state:
                    raise ValueError(f"{self.path}: step row {row} is the step from state {row} to "
                                     f"{row + 1}, but only {n_state} state rows exist "
                                     "(append state row k before step row k)")
            vals: dict[str, np.ndarray | None] = {}
            for name, v in values.items():
                spec = METRICS.get(name)
                k_known = spec.kind if spec is not None else self._kinds.get(name) \
                    or self._pending.get(name, {}).get("kind")
                if k_known is not None and k_known != kind:
                    raise ValueError(f"metric {name!r} is a {k_known} metric; it cannot be appended "
                                     f"as a {kind} row")
                if name in _SCALE_NAMES:
                    raise ValueError(f"{name!r} is reserved for the dimension scale")
                if v is None:
                    vals[name] = None
                    continue
                arr = _as_array(name, v)
                vals[name] = arr
            prepared[kind] = (row, vals)

        f = self._f
        assert f is not None
        # ---- structural work needed?  (new scale or new metric, or shape/dtype checks)
        new = []
        for kind, (row, vals) in prepared.items():
            if "trace" not in f or _SCALE[kind] not in f["trace"]:
                new.append((kind, None))
            for name, arr in vals.items():
                if name not in self._kinds:
                    if arr is None:
                        continue  # nothing to create from; stays absent until a value arrives
                    new.append((kind, name))
                elif arr is not None:
                    shape, dtype = self._rowinfo[name]
                    if arr.shape != shape:
                        raise ValueError(f"metric {name!r}: row shape {arr.shape} differs from "
                                         f"earlier rows {shape}")
                    if dtype.kind in "iub" and arr.dtype.kind == "f":
                        raise TypeError(f"metric {name!r} holds integers; got a float row")
                    if dtype.kind == "b" and arr.dtype.kind != "b":
                        raise TypeError(f"metric {name!r} holds booleans; got a {arr.dtype} row")
        if new:
            f = self._stage()
            for kind, name in new:
                if name is None:
                    self._create_scale(f, kind)
            for kind, name in new:
                if name is not None:
                    row, vals = prepared[kind]
                    self._create_metric(f, name, kind, vals[name], nrows=self._rows[kind])
        # ---- data rows of every metric of the kind (missing ones get the fill value)
        for kind, (row, vals) in prepared.items():
            for name, k in self._kinds.items():
                if k == kind:
                    self._write_row(name, row, vals.get(name))
        # ---- commit: data first, then the scales (the commit record)
        if self._staging:
            for kind, (row, _) in prepared.items():
                self._write_row(_SCALE[kind], row, np.int64(row if kind == STATE else row + 1))
            self._publish()
        else:
            # one flush per stage: within a single H5Fflush HDF5 orders writes only as SWMR
            # needs, so "data before step scale before t scale" needs separate flushes
            f.flush()
            for kind in (STEP, STATE):
                if kind in prepared:
                    row = prepared[kind][0]
                    self._write_row(_SCALE[kind], row, np.int64(row if kind == STATE else row + 1))
                    f.flush()
        for kind, (row, _) in prepared.items():
            self._rows[kind] = row + 1


# --------------------------------------------------------------------------- reader

class Trace:
    """Read-only view of a trace file; ``tr["loss"]`` returns a numpy array.

    Works on finished traces, on traces whose writer is still running, and on
    traces whose writer died (SIGKILL): rows are cut to the committed ones.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self._f = _open_for_read(self.path)
        try:
            self.schema_version = _check_schema(self.path, self._f)
            self.attrs: dict[str, Any] = {k: _decode(v) for k, v in self._f.attrs.items()}
            g = self._f.get("trace")
            self._n_state = int(g["t"].shape[0]) if g is not None and "t" in g else 0
            n_step = int(g["step"].shape[0]) if g is not None and "step" in g else 0
            if self._n_state:
                n_step = min(n_step, self._n_state - 1)
            self._n_step = n_step
        except BaseException:
            self._f.close()
            raise

    # ------------------------------------------------------------ summary
    @property
    def status(self) -> str:
        return str(self.attrs.get("status", ""))

    @property
    def iterations(self) -> int:
        """Number of completed iterations T (state rows minus one; 0 if none)."""
        return max(self._n_state - 1, 0)

    @property
    def steps(self) -> int:
        return self._n_step

    def names(self) -> list[str]:
        """Metric datasets in /trace (dimension scales excluded), sorted."""
        g = self._f.get("trace")
        if g is None:
            return []
        return sorted(k for k in g.keys() if k not in _SCALE_NAMES and isinstance(g[k], h5py.Dataset))

    def kind(self, name: str) -> str:
        return str(_decode(self._dataset(name).attrs.get("kind", "")))

    def units(self, name: str) -> str:
        return str(_decode(self._dataset(name).attrs.get("units", "")))

    def description(self, name: str) -> str:
        return str(_decode(self._dataset(name).attrs.get("description", "")))

    def metric_attrs(self, name: str) -> dict[str, Any]:
        ds = self._dataset(name)
        return {k: _decode(v) for k, v in ds.attrs.items()
                if k not in ("DIMENSION_LIST", "DIMENSION_LABELS", "REFERENCE_LIST", "CLASS", "NAME")}

    # ------------------------------------------------------------ arrays
    def _dataset(self, name: str) -> h5py.Dataset:
        key = name if "/" in name.strip("/") else f"trace/{name}"
        obj = self._f.get(key.strip("/"))
        if not isinstance(obj, h5py.Dataset):
            raise KeyError(f"{self.path}: no dataset {name!r} (metrics: {', '.join(self.names())})")
        return obj

    def _rows_for(self, ds: h5py.Dataset) -> int | None:
        if ds.parent.name != "/trace":
            return None
        kind = _decode(ds.attrs.get("kind", ""))
        base = ds.name.rsplit("/", 1)[-1]
        if kind == STEP or base == "step":
            return self._n_step
        return self._n_state

    def __getitem__(self, name: str) -> np.ndarray:
        """A metric ("loss"), a scale ("t"), or any dataset by path ("data/X", "final/f")."""
        ds = self._dataset(name)
        n = self._rows_for(ds)
        if ds.shape == ():
            return ds[()]
        if ds.name == "/trace/t":          # by definition; the stored last value may be the fill
            return np.arange(n, dtype=np.int64)   # value if the writer died mid-commit
        if ds.name == "/trace/step":
            return np.arange(1, n + 1, dtype=np.int64)
        arr = ds[:n] if n is not None else ds[()]
        if ds.dtype.kind == "O":
            arr = np.array([_decode(v) for v in np.asarray(arr).ravel()], dtype=object).reshape(np.shape(arr))
        return arr

    def __contains__(self, name: str) -> bool:
        try:
            self._dataset(name)
        except KeyError:
            return False
        return True

    def _group_dict(self, gname: str) -> dict[str, Any]:
        g = self._f.get(gname)
        out: dict[str, Any] = {}
        if g is None:
            return out

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        g.visititems(visit)
        return out

    @property
    def data(self) -> dict[str, np.ndarray]:
        return self._group_dict("data")

    @property
    def data_attrs(self) -> dict[str, Any]:
        g = self._f.get("data")
        return {} if g is None else {k: _decode(v) for k, v in g.attrs.items()}

    @property
    def final(self) -> dict[str, np.ndarray]:
        return self._group_dict("final")

    @property
    def validation(self) -> dict[str, dict[str, Any]]:
        g = self._f.get("validation")
        if g is None:
            return {}
        return {k: {a: _decode(v) for a, v in g[k].attrs.items()} for k in g.keys()}

    # ------------------------------------------------------------ closing
    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None  # type: ignore[assignment]

    def __enter__(self) -> "Trace":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        return (f"Trace({self.path!r}, status={self.status!r}, iterations={self.iterations}, "
                f"metrics={self.names()})")


# --------------------------------------------------------------------------- validation

_DS_ATTRS = ("DIMENSION_LIST", "DIMENSION_LABELS", "REFERENCE_LIST", "CLASS", "NAME")


def _copy_attrs(src, dst) -> None:
    for k in src.attrs:
        if k in _DS_ATTRS:
            continue
        dst.attrs.create(k, data=src.attrs[k], dtype=src.attrs.get_id(k).dtype)


def _clone_clean(src_path: str, dst_path: str) -> None:
    """Rebuild a trace whose SWMR flags are set (writer dead) as a clean new file.

    Rows of /trace are cut to the committed ones and the dimension scales are
    attached afresh (object references do not survive a copy between files).
    """
    tr = Trace(src_path)
    try:
        src = tr._f
        with h5py.File(dst_path, "w", libver=LIBVER) as dst:
            _copy_attrs(src, dst)

            def clone(sg, dg):
                for name, obj in sg.items():
                    if isinstance(obj, h5py.Group):
                        sub = dg.create_group(name)
                        _copy_attrs(obj, sub)
                        clone(obj, sub)
                    elif isinstance(obj, h5py.Dataset):
                        sg.copy(obj, dg, name=name, without_attrs=True)
                        _copy_attrs(obj, dg[name])
            clone(src, dst)
            g = dst.get("trace")
            if g is not None:
                for sname, n in (("t", tr._n_state), ("step", tr._n_step)):
                    if sname in g:
                        g[sname].resize(n, axis=0)
                        g[sname][:] = np.arange(n) if sname == "t" else np.arange(1, n + 1)
                        g[sname].make_scale(sname)
                for name in list(g.keys()):
                    if name in _SCALE_NAMES:
                        continue
                    ds = g[name]
                    kind = _decode(ds.attrs.get("kind", STATE))
                    sname = _SCALE.get(kind, "t")
                    ds.resize(tr._n_step if kind == STEP else tr._n_state, axis=0)
                    if sname in g:
                        ds.dims[0].attach_scale(g[sname])
                        ds.dims[0].label = sname
    finally:
        tr.close()


def write_validation(path, results: Mapping[str, Mapping[str, Any]], attrs: Mapping[str, Any] | None = None) -> None:
    """Write /validation (replacing an earlier one): one subgroup per check.

    ``results = {"loss_decay": {"status": "pass", "measured": 0.93, "bound": 0.95,
    "first_failing_iteration": -1, "message": "..."}, ...}``; each value becomes
    an attribute of /validation/<check> (str / int / float / lists of them).
    The file is rewritten copy-on-write, so a kill leaves the old version.
    Refuses a trace whose writer is still running.
    """
    path = os.path.abspath(os.fspath(path))
    with Trace(path) as tr:
        flagged = tr._f.swmr_mode
        status = tr.status
        pid = tr.attrs.get("writer_pid")
        host = tr.attrs.get("writer_host")
    if flagged and status == "running" and isinstance(pid, int) and host == socket.gethostname() \
            and pid != os.getpid() and _pid_alive(pid):
        raise TraceError(f"{path}: still being written by process {pid}; validate it when the run ends")
    tmp = _partial_path(path)
    try:
        if flagged:
            _clone_clean(path, tmp)
        else:
            shutil.copyfile(path, tmp)
        with h5py.File(tmp, "r+", libver=LIBVER) as f:
            if "validation" in f:
                del f["validation"]
            g = f.create_group("validation")
            _set_attrs(g, {"written": _now(), **dict(attrs or {})})
            for check, vals in results.items():
                if "/" in check or not check:
                    raise ValueError(f"invalid check name {check!r}")
                _set_attrs(g.create_group(check), dict(vals))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
