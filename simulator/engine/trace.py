"""Trace files: one HDF5 file per run, written as the run goes; every trace is also a netCDF-4 file.

Layout, schema version 2 (docs/architecture.md, "Engine and traces")::

    /                 attrs: schema_version, status (running|completed|failed|
                      interrupted), error, created, finished, simulator/python/
                      numpy/numba/h5py/hdf5 versions, platform, writer_pid,
                      writer_host, the caller's attrs (scenario_name,
                      scenario_toml, seed, solver, ...), the theory constants
                      (b, lambda, delta, R0, ...) as soon as they are set, and
                      _NCProperties (what marks a netCDF-4 file)
    /data/X, y, a, W0 problem data (W0 omitted above a size limit; then the
                      attrs of /data say so and how to regenerate it)
    /data/point, feature, neuron, ...   dimension scales of those arrays
    /trace/t          dimension scale and coordinate "t" = 0, 1, ..., T (the
                      committed states)
    /trace/step       dimension scale and coordinate "step" = 1, ..., K (the
                      committed steps)
    /trace/<name>     one resizable, chunked dataset per metric, first axis
                      attached to "t" (kind "state") or "step" (kind "step"),
                      every further axis to a fixed-size scale made with the
                      metric (`point` for fire_count and flips, `eigenvalue`
                      for eigvals, `quantile` = the quantile levels for
                      drift_quantiles, `phase` = the phase names for
                      phase_seconds and phase_flops, `<name>_dim<k>` for
                      anything else); attrs units (CF: "1" or "s"),
                      units_label (the unit as shown: count, dimensionless,
                      ...), long_name, description, kind (+ metric-specific
                      ones: quantiles, phases)
    /final/<name>     final predictions, weights or their implicit form (+ scales)
    /validation/<check>  one group per check, written by `write_validation`

Schema 1 (before netCDF): no scales beyond t and step, units were the labels;
``Trace`` reads both.

Row semantics: row t of a *state* metric is the state after t steps (row 0 is
the initial state).  Row k of a *step* metric is the cost of step k+1 (the step
from state k to state k+1), so a run of T iterations has T+1 state rows and T
step rows.  A metric that is not computed at some row (a cadence metric, or a
``None`` value) holds the fill value there: NaN for floats, -1 for integers,
False for booleans.  float64 is stored as float64 (smaller floats are widened),
integers as int64, strings as UTF-8 variable-length strings.

netCDF-4
--------
``xr.open_dataset(path, group="trace", engine="h5netcdf")`` (also "data",
"final") and ``netCDF4.Dataset(path)`` read a finished trace: netCDF-4 is HDF5
with every axis of every dataset attached to a dimension scale (h5netcdf
refuses a dataset with some axes attached and others not, netCDF-C fails on
it), each scale numbered file-wide by its ``_Netcdf4Dimid`` attr, and the root
attr ``_NCProperties``.  A scale without values of its own (point, neuron,
...) is what netCDF calls a dimension that is not a variable: an unwritten
float32 dataset (no storage) whose ``NAME`` says so, as h5netcdf writes it.
A name already taken, or whose length contradicts the run's root attrs n, d,
m (the multilayer's W0 is m x m), falls back to ``<dataset>_dim<k>``;
``write_data`` / ``write_final`` take ``dims=`` to name axes outright.
``finish`` cuts every /trace dataset to its committed rows, so all the
datasets of a dimension have its length.  Float and integer metrics carry
``_FillValue`` (NaN, -1: the fill value), so xarray masks the rows a metric
was not computed at -- and so reads integer metrics as float64 with NaN;
``mask_and_scale=False`` keeps int64 and -1.  Booleans are HDF5 enums
(netCDF-C reads an int8; it does not list boolean attrs of subgroups).  A
trace whose writer is running or died is flagged for SWMR and only HDF5's
SWMR readers (``Trace``, h5py with ``swmr=True``) open it;
``write_validation`` turns it into a clean one.

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
  number of complete rows.  The scales of the other axes have a fixed size and
  are made with their metric (a structural change, below), never in SWMR.
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
  by the next ``TraceWriter.create`` of the same path).  Every other failure
  removes the writer's partial file.  A run copies the file a handful of
  times (creation, set_attrs, write_data, first state row, first step row,
  each metric that first appears later, write_final + finish), not once per
  iteration -- so do not call ``set_attrs`` every iteration; ``batch()``
  makes several structural changes one copy (a kill inside it leaves the
  version published before it).
* **Readers** open a cleanly closed file with ``h5py.File(path, 'r')`` and a
  file flagged by a (live or dead) SWMR writer with ``swmr=True`` -- which
  reads a consistent file.  Which one the file is, the superblock's
  consistency flags say.  Raw h5py users must do the same and slice rows to
  the scale lengths.  ``write_validation`` rebuilds a flagged file (writer
  dead) as a clean one.

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

Damaged files
-------------
A file cut short (a full disk, a copy interrupted, ``truncate``) is refused
at once with a ``TraceError`` naming the damage and how many iterations
survived.  HDF5 records the file's length: the superblock's end-of-file
address, which ``_read_superblock`` reads from the first bytes of the file
without HDF5 (and checks against the superblock's checksum).  HDF5's own
check of it ("truncated file: eof = ..., stored_eof = ...") is skipped by a
SWMR reader, which then retries every metadata read that fails its checksum
up to 100 times with growing sleeps -- more than ten minutes on a truncated
trace, and a trace cut by only a few bytes opened as ``completed`` with its
tail missing.  So the length is checked before HDF5 sees the file, and a
clean file is never opened in SWMR mode.  A file shorter than its
superblock says is damaged whatever its flags: 190 SIGKILLed writers and
170 000 reads of the superblock under a live writer never showed one (HDF5
extends the file before it records the new length).  How many iterations
survived is read, without SWMR and so without retries, through a view that
pads the file with zeros to its recorded length; a row counts only if the
chunks holding it lie inside the real file.

Overwriting and concurrent writers
----------------------------------
``TraceWriter.create(path, overwrite=True)`` replaces only a simulator trace:
a regular file (not a symbolic link, device, pipe or directory) that is HDF5
with a ``schema_version`` root attr -- also a damaged one, as long as its root
attrs still say so -- and that no live writer is writing (status
``running`` with a live ``writer_pid`` on this host, or any ``running``
trace from another host).  Anything else is refused with a FileExistsError
naming the path and what it is.  Every rename over ``path`` (the first
publish, each later one, ``write_validation``) is done holding an exclusive
``flock`` on the directory, after checking that ``path`` is still what the
caller expects: absent or a replaceable trace (first publish), the writer's
own file (later ones), the file that was validated.  So of two runs started
together on one path with ``--overwrite`` exactly one writes it; the other
gets FileExistsError from ``create`` and leaves nothing behind; a writer
whose file was replaced or removed by someone else stops with a TraceError
and never publishes again.

Cost: an append of ~20 metrics (two of shape (200,)) takes about 1.2 ms.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import math
import os
import platform
import shutil
import socket
import stat
import struct
import sys
from importlib import metadata as _metadata
from typing import Any, Mapping, NamedTuple

try:
    import fcntl
except ImportError:          # not on Windows: renames are then not serialised
    fcntl = None  # type: ignore[assignment]

import h5py
import numpy as np

__all__ = [
    "SCHEMA_VERSION",
    "READABLE_SCHEMA_VERSIONS",
    "LIBVER",
    "DEFAULT_W0_LIMIT",
    "TraceError",
    "ReadOnlyTrace",
    "MetricSpec",
    "METRICS",
    "METRIC_ATTRS",
    "DRIFT_QUANTILES",
    "TraceWriter",
    "Trace",
    "write_validation",
]

SCHEMA_VERSION = 2
#: Schema 1: the same layout without the netCDF-4 scales and with label units.
READABLE_SCHEMA_VERSIONS = (1, 2)
#: HDF5 format bounds: SWMR needs the 1.10 format; capping it there keeps the
#: files readable by every HDF5 >= 1.10 (h5py >= 2.5).
LIBVER = ("v110", "v110")
#: /data/W0 is written only while m*d is at most this many elements.
DEFAULT_W0_LIMIT = 10_000_000
#: quantile levels of /trace/drift_quantiles (also stored as its attr ``quantiles``
#: and as the values of its scale /trace/quantile)
DRIFT_QUANTILES = (0.5, 0.9, 0.99, 0.999, 1.0)

STATUSES = ("running", "completed", "failed", "interrupted")
STATE, STEP = "state", "step"
_SCALE = {STATE: "t", STEP: "step"}
_SCALE_NAMES = frozenset(_SCALE.values())


class TraceError(Exception):
    """A file that is not a readable simulator trace (or one this version cannot read)."""


class ReadOnlyTrace(TraceError):
    """``write_validation`` on a trace the user made read-only: nothing was written."""


class MetricSpec(NamedTuple):
    units: str          # as shown (count, dimensionless, s, ...); the file's CF `units` derive from it
    description: str
    kind: str           # "state" (row t = state after t steps) or "step" (row k = step k+1)
    long_name: str = ""  # CF long_name: a short name for axis labels and netCDF tools


_D = "dimensionless"
#: The known metrics.  Unknown names can still be written (kind from the append
#: method used, units/description from ``TraceWriter.describe`` or "").
METRICS: dict[str, MetricSpec] = {
    # --- state metrics: row t = after t steps, row 0 = initial state
    "loss": MetricSpec(_D, "training loss 1/2 ||f - y||_2^2", STATE, "training loss"),
    "residual_norm": MetricSpec(_D, "residual norm ||f - y||_2", STATE, "residual norm"),
    "fire_count": MetricSpec("count", "per data point i: number of neurons firing on x_i, |S_i,fire|; shape (n,)", STATE,
                             "neurons firing per data point"),
    "union_fire": MetricSpec("count", "number of neurons firing on at least one data point, |union_i S_i,fire|", STATE,
                             "neurons firing on some data point"),
    "flip_candidates": MetricSpec("count", "per data point i: number of neurons r with |<w_r(0), x_i> - b| <= ||w_r(t) - w_r(0)||, the only ones that can have flipped on x_i since t = 0 (Lemma D.3); shape (n,)", STATE, "neurons able to flip per data point"),
    "flips": MetricSpec("count", "per data point i: number of neurons whose activation on x_i differs from t = 0; shape (n,)", STATE,
                        "activation flips per data point since t = 0"),
    "drift_max": MetricSpec(_D, "max over neurons r of ||w_r(t) - w_r(0)||_2", STATE, "largest neuron drift"),
    "drift_quantiles": MetricSpec(_D, "quantiles of the per-neuron drift ||w_r(t) - w_r(0)||_2 at the levels in attr 'quantiles'; shape (5,)", STATE,
                                  "quantiles of the neuron drift"),
    "drift_fro": MetricSpec(_D, "Frobenius norm of the trained weights' change, ||W(t) - W(0)||_F (multilayer: of W_L)", STATE,
                            "Frobenius norm of the weight change"),
    "moved_fraction": MetricSpec("fraction", "fraction of neurons whose weight vector differs from its initial value", STATE,
                                 "fraction of neurons moved"),
    "lambda_min": MetricSpec(_D, "smallest eigenvalue of the NTK Gram matrix H(t)", STATE, "smallest NTK Gram eigenvalue"),
    "lambda_max": MetricSpec(_D, "largest eigenvalue of the NTK Gram matrix H(t)", STATE, "largest NTK Gram eigenvalue"),
    "gram_dev_fro": MetricSpec(_D, "Frobenius norm ||H(t) - H(0)||_F of the Gram matrix deviation", STATE,
                               "NTK Gram deviation from t = 0"),
    "eigvals": MetricSpec(_D, "eigenvalues of the NTK Gram matrix H(t), ascending; shape (n,)", STATE, "NTK Gram eigenvalues"),
    # --- step metrics: row k = the step from state k to state k+1
    "reg_iterations": MetricSpec("count", "iterations of the inner regression solve in this step", STEP,
                                 "regression iterations"),
    "reg_residual": MetricSpec(_D, "relative residual of the inner regression solve at exit", STEP,
                               "regression relative residual"),
    "sketch_eps": MetricSpec(_D, "measured subspace-embedding distortion epsilon of this step's sketch", STEP,
                             "sketch distortion"),
    "phase_seconds": MetricSpec("s", "wall-clock seconds of each phase of this step (names in attr 'phases'); shape (P,)", STEP,
                                "wall-clock time per phase"),
    "step_seconds": MetricSpec("s", "wall-clock seconds of the solver step alone (metrics and I/O excluded)", STEP,
                               "wall-clock time of the step"),
    "nodes_touched": MetricSpec("count", "threshold-search tree nodes visited or updated in this step", STEP,
                                "tree nodes touched"),
    "memberships_changed": MetricSpec("count", "fire-set memberships (i, r) added or removed by this step's index update (direct incidence index)", STEP,
                                      "fire-set memberships changed"),
    "neurons_changed": MetricSpec("count", "neurons whose weights changed in this step", STEP, "neurons changed"),
    "fire_total": MetricSpec("count", "fire-set incidences used by this step, sum_i |S_i,fire(t)| (the nonzero rows of J_t^T, times d)", STEP,
                             "fire-set incidences used"),
    "sketch_rows": MetricSpec("count", "rows s of the sketch S applied to J_t^T in this step", STEP, "sketch rows"),
    "move_max": MetricSpec(_D, "max_r ||w_r(t+1) - w_r(t)||: the largest move of one neuron in this step", STEP,
                           "largest neuron move"),
    # half-space-reporting indexes (seed 001): the cost of Lemma 4.1 in counts
    "query_nodes": MetricSpec("count", "index nodes visited by this step's fire-set queries", STEP, "index nodes queried"),
    "update_nodes": MetricSpec("count", "index nodes changed by this step's updates of the moved neurons", STEP,
                               "index nodes updated"),
    "rebuilds": MetricSpec("count", "rebuilds of the index's structure in this step", STEP, "index rebuilds"),
    "candidates": MetricSpec("count", "sum_i of the candidate superset queried for S_i (drift-slack index), before the exact filter", STEP,
                             "candidate neurons queried"),
    # approximate indexes (LSH): how far the run is from exact gradient descent
    "missed": MetricSpec("count", "sum_i of the neurons firing on x_i that the approximate index did not report (this step)", STEP,
                         "firing neurons missed"),
    "false_reported": MetricSpec("count", "sum_i of the neurons the approximate index reported for x_i that do not fire (this step)", STEP,
                                 "non-firing neurons reported"),
    # the multilayer network (seed 004)
    "phase_flops": MetricSpec("operation", "counted operations of each phase of this step (names in attr 'phases'; docs/theory.md §10: a multiply-add 2; a comparison, hashed add or tree-node visit 1); shape (P,)", STEP,
                              "counted operations per phase"),
    "step_rank": MetricSpec("count", "rank of this step's change of W_L, -sum_i g_i u_i v_i^T (at most n)", STEP,
                            "rank of the step's change"),
    "delta_rank": MetricSpec("count", "rank of the stored low-rank part of W_L(t) - W_L(0) after this step (columns of its factors; 0 once folded into the dense matrix)", STEP,
                             "rank of the stored change"),
    "folds": MetricSpec("count", "folds of the low-rank factors into the dense matrix in this step", STEP, "folds"),
    "step_fro_sq": MetricSpec(_D, "||W_L(t+1) - W_L(t)||_F^2 measured from the stored change", STEP,
                              "squared Frobenius norm of the step's change"),
    "gGg": MetricSpec(_D, "g^T G_t g for this step's g and the exact G_t (equals step_fro_sq by the identity of docs/theory.md §9)", STEP,
                      "g^T G g"),
    "loss_gap": MetricSpec(_D, "loss of this run minus the loss of exact gradient descent from the same start, after this step", STEP,
                           "loss gap to exact gradient descent"),
}

#: Extra dataset attrs written automatically for registered metrics.
METRIC_ATTRS: dict[str, dict[str, Any]] = {
    "drift_quantiles": {"quantiles": list(DRIFT_QUANTILES)},
}

#: The dimension of each axis after the first (t or step) of the metrics that have them.
#: Other metrics with more axes get `<metric>_dim<k>`.
METRIC_DIMS: dict[str, tuple[str, ...]] = {
    "fire_count": ("point",),
    "flips": ("point",),
    "flip_candidates": ("point",),
    "eigvals": ("eigenvalue",),
    "drift_quantiles": ("quantile",),
    "phase_seconds": ("phase",),
    "phase_flops": ("phase",),
}

#: The dimensions and CF names of the arrays of /data and /final.  An array not
#: listed, or whose length differs from its group's dimension of that name or from
#: the run's n, d, m (the multilayer W0 is m x m), gets `<name>_dim<k>` for that axis.
ARRAY_DIMS: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("data", "X"): (("point", "feature"), "data points x_i"),
    ("data", "y"): (("point",), "targets y_i"),
    ("data", "a"): (("neuron",), "output weights a_r"),
    ("data", "W0"): (("neuron", "feature"), "initial weights W(0)"),
    ("data", "active_per_layer"): (("layer", "point"), "active neurons per frozen layer and data point"),
    ("final", "f"): (("point",), "final predictions f_i"),
    ("final", "drift"): (("neuron",), "final drift ||w_r(T) - w_r(0)||_2 per neuron"),
    ("final", "W"): (("neuron", "feature"), "final weights W(T)"),
    ("final", "moved_neurons"): (("moved",), "neurons that moved"),
    ("final", "moved_drift"): (("moved",), "final drift ||w_r(T) - w_r(0)||_2 of the neurons that moved (0 elsewhere)"),
    ("final", "coefficients"): (("moved", "point"), "w_r(T) - w_r(0) = sum_j c_rj x_j for the moved neurons"),
}

_SCALE_SPECS = {
    "t": MetricSpec("count", "iteration t: row t of a state metric is the state after t steps (0 = initial)", STATE,
                    "iteration"),
    "step": MetricSpec("count", "step number s: row s-1 of a step metric is the cost of the step from state s-1 to s", STEP,
                       "step number"),
}

#: The root attrs (set by the runner at creation) that fix the length of a dimension.
_DIM_SIZE_ATTRS = {"point": "n", "feature": "d", "neuron": "m"}

#: CF units (UDUNITS) of the unit labels used above: counts, fractions and flops are "1".
_CF_UNITS = {"dimensionless": "1", "count": "1", "fraction": "1", "flop": "1", "operation": "1", "": ""}

#: HDF5/netCDF bookkeeping attrs, never shown as a metric's attrs nor copied by hand.
_DS_ATTRS = ("DIMENSION_LIST", "DIMENSION_LABELS", "REFERENCE_LIST", "CLASS", "NAME")
_NC_ATTRS = ("_Netcdf4Dimid", "_Netcdf4Coordinates", "_NCProperties", "_FillValue")
#: NAME of a netCDF dimension that has no values of its own (h5netcdf and netCDF-C write it so).
_NOT_A_VARIABLE = "This is a netCDF dimension but not a netCDF variable."


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


def _units_attrs(label: str) -> dict[str, str]:
    """CF ``units`` (what netCDF tools parse) and ``units_label`` (what `Trace.units` and plots show)."""
    label = str(label)
    return {"units": _CF_UNITS.get(label, label), "units_label": label}


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


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _copy_to_new(src: str, dst: str) -> None:
    """Copy src to a file dst that must not exist (O_EXCL, so a link planted at dst is never followed)."""
    _remove(dst)    # a leftover of this very process (same pid): ours to replace
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
            fd = -1
            shutil.copyfileobj(fin, fout, 1 << 20)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        _remove(dst)
        raise


def _identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file the name itself denotes (a link is not followed), or None if absent."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


@contextlib.contextmanager
def _directory_lock(path: str):
    """Hold an exclusive flock on the directory of ``path``: check-then-rename by two writers
    (or a writer and ``write_validation``) of one directory cannot interleave.  The lock is
    on the directory itself, so no lock file is left behind; it is held for a check and a
    rename only.  Best effort: where flock is not supported there is no lock."""
    fd = -1
    if fcntl is not None:
        try:
            fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass
    try:
        yield
    finally:
        if fd >= 0:
            os.close(fd)        # releases the lock


def _kind_of(mode: int) -> str:
    for test, what in ((stat.S_ISREG, "regular file"), (stat.S_ISDIR, "directory"), (stat.S_ISLNK, "symbolic link"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return what
    return "special file"


# --------------------------------------------------------------------------- the file, without HDF5

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_M32 = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M32


def _lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle``: the checksum HDF5 puts on its superblock (v2+).

    Its mix() and final() are lines of one shape on rotating roles, written here as loops:
    mix line ``x -= z; x ^= rot(z, k); z += y`` then (x, y, z) <- (y, z, x), starting at (a, b, c);
    final line ``x ^= y; x -= rot(y, k)`` then (x, y, w) <- (w, x, y), starting at (c, b, a).
    """
    n = len(data)
    a = b = c = (0xDEADBEEF + n + initval) & _M32
    i = 0
    while n - i > 12:                       # every 12-byte block but the last: add, mix
        x, y, z = struct.unpack_from("<III", data, i)
        a, b, c = (a + x) & _M32, (b + y) & _M32, (c + z) & _M32
        for k in (4, 6, 8, 16, 19, 4):      # six lines: the roles come back to (a, b, c)
            a = ((a - c) & _M32) ^ _rot(c, k)
            c = (c + b) & _M32
            a, b, c = b, c, a
        i += 12
    if n == i:
        return c
    x, y, z = struct.unpack("<III", data[i:] + bytes(12 - (n - i)))   # the last block, zero-padded
    a, b, c = (a + x) & _M32, (b + y) & _M32, (c + z) & _M32
    x, y, w = c, b, a
    for k in (14, 11, 25, 16, 4, 14, 24):   # seven lines: c ends as y
        x = ((x ^ y) - _rot(y, k)) & _M32
        x, y, w = w, x, y
    return y


class _Superblock(NamedTuple):
    version: int
    eof: int        # end-of-file address: the length HDF5 recorded (absolute, as HDF5 checks it)
    flags: int      # file consistency flags; v3: bit 0 open for writing, bit 2 open for SWMR writing

    @property
    def swmr_flagged(self) -> bool:
        return self.version >= 3 and bool(self.flags & 0x4)


class _Damaged(Exception):
    """The file is recognisably HDF5 but cut or corrupt before HDF5 could even start."""


def _read_superblock(fh) -> _Superblock | None:
    """The superblock's version, end-of-file address and flags; None if the file is not HDF5.

    ``fh``: the file, open for binary reading.  The signature is at 0 or, after a user
    block, at 512, 1024, 2048, ...  Raises ``_Damaged`` when the superblock itself is cut
    short or fails its checksum.
    """
    size = os.fstat(fh.fileno()).st_size
    offset = 0
    while offset + 8 <= size:
        fh.seek(offset)
        if fh.read(8) == _SIGNATURE:
            break
        offset = 512 if offset == 0 else 2 * offset
    else:
        fh.seek(0)
        start = fh.read(8)
        if start and _SIGNATURE.startswith(start):
            raise _Damaged(f"truncated inside the HDF5 signature ({size} bytes)")
        return None
    rest = fh.read(120)
    if len(rest) < 4:
        raise _Damaged(f"truncated inside its HDF5 superblock ({size} bytes)")
    version = rest[0]
    if version in (0, 1):
        # versions, sizes, group K values, flags (v1: + indexed-storage K), then the addresses:
        # base, free-space info, end-of-file, driver info
        addr = 20 if version == 1 else 16
        so = rest[5] if len(rest) > 5 else 0
        if len(rest) < 16:
            raise _Damaged(f"truncated inside its HDF5 superblock ({size} bytes)")
        if so not in (2, 4, 8):
            raise _Damaged(f"its HDF5 superblock is corrupt (size of offsets {so})")
        if len(rest) < addr + 3 * so:
            raise _Damaged(f"truncated inside its HDF5 superblock ({size} bytes)")
        flags = struct.unpack_from("<I", rest, 12)[0]
        eof = int.from_bytes(rest[addr + 2 * so: addr + 3 * so], "little")
        return _Superblock(version, eof, flags)
    if version in (2, 3):
        so = rest[1]
        if so not in (2, 4, 8):
            raise _Damaged(f"its HDF5 superblock is corrupt (size of offsets {so})")
        length = 4 + 4 * so + 4          # after the signature: versions and flags, 4 addresses, checksum
        if len(rest) < length:
            raise _Damaged(f"truncated inside its HDF5 superblock ({size} bytes)")
        body = _SIGNATURE + rest[:length - 4]
        if _lookup3(body) != struct.unpack_from("<I", rest, length - 4)[0]:
            raise _Damaged("its HDF5 superblock fails its checksum")
        flags = rest[3]
        # base address, superblock extension address, end-of-file address, root object header
        eof = int.from_bytes(rest[4 + 2 * so: 4 + 3 * so], "little")
        return _Superblock(version, eof, flags)
    raise _Damaged(f"unknown HDF5 superblock version {version}")


class _PaddedFile(io.RawIOBase):
    """Read-only view of a truncated file as HDF5 recorded it: ``length`` bytes, zeros past the real end.

    Opened with h5py's file-object driver (never SWMR, so HDF5 makes one attempt per
    metadata read: no retries, no sleeps), HDF5 reads what survived; metadata in the lost
    part is zeros and fails its checksum at once.  Raw data has no checksum, which is why
    ``_surviving_iterations`` counts rows by where their chunks lie, not by reading them.
    """

    def __init__(self, path: str, length: int):
        super().__init__()
        self._fh = open(path, "rb")
        self._size = os.fstat(self._fh.fileno()).st_size
        self._length = max(length, self._size)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buf) -> int:
        view = memoryview(buf).cast("B")
        n = max(0, min(len(view), self._length - self._pos))
        got = 0
        if self._pos < self._size:
            self._fh.seek(self._pos)
            got = self._fh.readinto(view[:min(n, self._size - self._pos)]) or 0
        view[got:n] = bytes(n - got)
        self._pos += n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def _rows_inside(ds: h5py.Dataset, rows: int, size: int) -> int:
    """How many of the first ``rows`` rows of a chunked dataset lie in chunks inside the first ``size`` bytes."""
    if ds.chunks is None or rows == 0:
        return rows
    per = ds.chunks[0]
    rest = (0,) * (ds.ndim - 1)
    # an unfiltered chunk stores its rows one after the other: the rows before the cut survive
    # (the last chunk is allocated whole, so a cut through its unused tail loses nothing)
    plain = ds.dtype.kind != "O" and ds.id.get_create_plist().get_nfilters() == 0
    row_bytes = ds.dtype.itemsize * int(np.prod(ds.chunks[1:], dtype=np.int64))
    for i in range(math.ceil(rows / per)):
        info = ds.id.get_chunk_info_by_coord((i * per,) + rest)
        if info.byte_offset is None or info.byte_offset + info.size <= size:
            continue                        # unallocated (fill values) or wholly inside
        inside = max(0, size - info.byte_offset) // row_bytes if plain else 0
        return min(rows, i * per + min(per, inside))
    return rows


def _surviving_iterations(path: str, sb: _Superblock, size: int) -> tuple[int, int, dict] | None:
    """(iterations intact, iterations committed, root attrs) of a truncated trace; None if unreadable."""
    try:
        with _PaddedFile(path, sb.eof) as fh, h5py.File(fh, "r") as f:
            attrs = {k: _decode(v) for k, v in f.attrs.items()}
            g = f.get("trace")
            if not isinstance(g, h5py.Group) or "t" not in g:
                return (-1, 0, attrs)
            n_state = int(g["t"].shape[0])
            n_step = min(int(g["step"].shape[0]), max(n_state - 1, 0)) if "step" in g else 0
            ok = {STATE: _rows_inside(g["t"], n_state, size),
                  STEP: _rows_inside(g["step"], n_step, size) if "step" in g else 0}
            for name, ds in g.items():
                kind = _decode(ds.attrs.get("kind", "")) if isinstance(ds, h5py.Dataset) else ""
                if kind in (STATE, STEP) and name not in _SCALE_NAMES:
                    ok[kind] = min(ok[kind], _rows_inside(ds, n_step if kind == STEP else n_state, size))
            intact = min(ok[STATE] - 1, ok[STEP]) if ok[STATE] >= 1 else -1
            return (intact, max(n_state - 1, 0), attrs)
    except Exception:       # noqa: BLE001 - anything HDF5 cannot read here was lost
        return None


def _truncated_message(path: str, sb: _Superblock, size: int) -> str:
    """One line: what is damaged and how much of the trace survived."""
    head = f"{path}: damaged: the file is truncated (its HDF5 superblock says {sb.eof} bytes, it has {size})"
    found = _surviving_iterations(path, sb, size)
    if found is None or found[0] < 0:
        return f"{head}; none of its iterations could be recovered"
    intact, total, _ = found
    return f"{head}; {intact} of its {total} iterations (state rows t = 0..{intact}) could be recovered"


def _inspect_file(path: str) -> tuple[os.stat_result, _Superblock]:
    """The checks before HDF5 sees a file: exists, is a regular file, is HDF5, is not cut short.

    One descriptor for all of it (a writer may rename a new version over ``path`` meanwhile),
    opened non-blocking (a FIFO would block a plain open).  The superblock is read before the
    length: a live writer extends the file before it records the new length, so in this order
    a healthy file is never shorter than its superblock says.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise TraceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TraceError(f"{path}: is a directory, not a trace file") from None
    except OSError as e:
        raise TraceError(f"{path}: cannot read: {e.strerror or e}") from None
    with os.fdopen(fd, "rb", buffering=0) as fh:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise TraceError(f"{path}: is a directory, not a trace file")
        if not stat.S_ISREG(st.st_mode):      # a device, pipe or socket is never a trace
            raise TraceError(f"{path}: is a {_kind_of(st.st_mode)}, not a trace file")
        try:
            sb = _read_superblock(fh)
        except _Damaged as e:
            raise TraceError(f"{path}: damaged: {e}; none of its iterations could be recovered") from None
        except OSError as e:
            raise TraceError(f"{path}: cannot read: {e.strerror or e}") from None
        st = os.fstat(fd)
    if sb is None:
        what = "an empty file" if st.st_size == 0 else "not an HDF5 file"
        raise TraceError(f"{path}: {what} (so not a simulator trace)")
    if st.st_size < sb.eof:
        raise TraceError(_truncated_message(path, sb, st.st_size))
    return st, sb


def _superblock_of(path: str) -> _Superblock | None:
    """``_read_superblock`` of the file at ``path`` (OSError, _Damaged as it raises them)."""
    with open(path, "rb") as fh:
        return _read_superblock(fh)


def _open_for_read(path: str) -> h5py.File:
    """Open a trace read-only, also when its writer is running or died (SWMR flags).

    A file with SWMR flags is opened with ``swmr=True``, a clean one without: a SWMR
    reader skips HDF5's length check and retries failed reads with sleeps, which on a
    damaged clean file would only hide the damage slowly.  ``locking=False`` is the
    fallback for file systems without locks.  A writer may publish a new version (a
    rename) between our look at the superblock and HDF5's open, so a file whose flags
    changed in between gets one more round.
    """
    path = os.fspath(path)
    errors: list[str] = []
    for _ in range(2):
        st, sb = _inspect_file(path)
        modes = ({"swmr": True}, {"swmr": True, "locking": False}) if sb.swmr_flagged else ({}, {"locking": False})
        for kw in modes:
            try:
                return h5py.File(path, "r", **kw)
            except (OSError, RuntimeError, ValueError) as e:
                errors.append(str(e))
        try:
            now = os.stat(path)
            changed = (now.st_ino, now.st_dev) != (st.st_ino, st.st_dev) or \
                _superblock_of(path).swmr_flagged != sb.swmr_flagged
        except (OSError, _Damaged, AttributeError):
            changed = True
        if not changed:
            break
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
    if v not in READABLE_SCHEMA_VERSIONS:
        raise TraceError(f"{path}: unknown schema_version {v} (this simulator reads "
                         f"{', '.join(map(str, READABLE_SCHEMA_VERSIONS))})")
    return v


def _why_not_replaceable(path: str) -> str | None:
    """None if ``path`` is absent or a simulator trace no live writer holds; else what it is.

    Only a regular file that is HDF5 with our ``schema_version`` root attr may be replaced
    -- also a damaged (truncated) one, if its root attrs can still be read and say so.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return f"is a symbolic link (to {target}), not a simulator trace"
    if not stat.S_ISREG(st.st_mode):
        return f"is a {_kind_of(st.st_mode)}, not a simulator trace"
    try:
        with _open_for_read(path) as f:
            attrs = {k: _decode(f.attrs[k]) for k in ("schema_version", "status", "writer_pid", "writer_host")
                     if k in f.attrs}
    except TraceError as e:
        try:
            sb = _superblock_of(path)
        except (OSError, _Damaged):
            sb = None
        if sb is None:
            return "is not an HDF5 file, so not a simulator trace"
        if st.st_size >= sb.eof:
            msg = str(e).split(": ", 1)[-1]
            return f"is not a readable simulator trace ({msg})"
        found = _surviving_iterations(path, sb, st.st_size)
        if found is None or "schema_version" not in found[2]:
            return "is a damaged HDF5 file that is not recognisably a simulator trace"
        attrs = found[2]
    if "schema_version" not in attrs:
        return "is an HDF5 file but not a simulator trace (no schema_version attribute)"
    if attrs.get("status") == "running":
        pid, host = attrs.get("writer_pid"), attrs.get("writer_host")
        if isinstance(pid, int) and host == socket.gethostname():
            if pid != os.getpid() and _pid_alive(pid):
                return f"is being written by process {pid} (status running)"
        elif isinstance(pid, int):
            return (f"is a running trace of process {pid} on host {host}, which may still be writing it "
                    "(delete it first if that run is dead)")
    return None


#: Paths this process has a TraceWriter open on (a second writer of one path is refused).
_WRITING: set[str] = set()


# --------------------------------------------------------------------------- netCDF-4 dimensions

def _nc_properties() -> np.ndarray:
    """Root attr ``_NCProperties``, as h5netcdf writes it (fixed-length ASCII): marks a netCDF-4 file."""
    text = (f"version=2,simulator={_pkg_version('simulator')},hdf5={h5py.version.hdf5_version},"
            f"h5py={h5py.version.version}")
    return np.array(text.encode("ascii"), dtype=h5py.string_dtype("ascii", len(text)))


def _next_dimid(f: h5py.File) -> int:
    """netCDF-4 numbers the dimensions of a file 0, 1, ... across all groups (attr ``_Netcdf4Dimid``)."""
    top = -1

    def visit(_name, obj):
        nonlocal top
        if isinstance(obj, h5py.Dataset) and "_Netcdf4Dimid" in obj.attrs:
            top = max(top, int(obj.attrs["_Netcdf4Dimid"]))
    f.visititems(visit)
    return top + 1


def _is_scale(obj) -> bool:
    return isinstance(obj, h5py.Dataset) and h5py.h5ds.is_scale(obj.id)


def _same_values(ds: h5py.Dataset, values: np.ndarray | None) -> bool:
    if values is None:
        return _NOT_A_VARIABLE in str(_decode(ds.attrs.get("NAME", b"")))
    if ds.shape != values.shape:
        return False
    have = ds[()]
    if values.dtype.kind == "O":
        return [_decode(v) for v in np.asarray(have).tolist()] == [str(v) for v in values.tolist()]
    return np.array_equal(have, values)


def _dimension(g: h5py.Group, name: str, length: int, values: np.ndarray | None = None,
               attrs: Mapping[str, Any] | None = None) -> h5py.Dataset | None:
    """The fixed-size scale ``name`` of group ``g``, made if absent; None if the name is taken
    by a dataset that is not this dimension (another length or other values, or a metric).

    ``values`` None: a netCDF dimension without values (an unwritten float32 dataset, so no
    storage, whose NAME says what it is, as h5netcdf and netCDF-C write it); else a
    coordinate variable holding them (quantile levels, phase names).
    """
    obj = g.get(name)
    if obj is not None:
        if _is_scale(obj) and obj.shape == (length,) and obj.maxshape == (length,) and _same_values(obj, values):
            return obj
        return None
    if values is None:
        ds = g.create_dataset(name, shape=(length,), dtype=">f4")
        ds.make_scale(f"{_NOT_A_VARIABLE}{length:10d}")
    else:
        ds = g.create_dataset(name, data=values, dtype=_STR if values.dtype.kind == "O" else values.dtype)
        ds.make_scale(name)
    ds.attrs["_Netcdf4Dimid"] = np.int32(_next_dimid(g.file))
    if attrs:
        _set_attrs(ds, attrs)
    return ds


def _attach_dims(g: h5py.Group, ds: h5py.Dataset, wanted: tuple, first: h5py.Dataset | None = None) -> None:
    """Attach a scale to every axis of ``ds`` (netCDF-4 needs all or none; h5netcdf refuses a mix).

    ``first``: the scale of axis 0 (t or step), else axis 0 is like the others.  ``wanted[k]``
    is (dimension name or None, values or None, attrs) for each remaining axis.  A name that is
    taken (another length, other values, a metric of that name) or whose length contradicts the
    run's n, d or m falls back to ``<dataset>_<name>`` when the axis has values of its own
    (other phases: still phases), else to ``<dataset>_dim<k>``.
    """
    sizes = {dim: g.file.attrs[key] for dim, key in _DIM_SIZE_ATTRS.items() if key in g.file.attrs}
    base = ds.name.rsplit("/", 1)[-1]
    axes = range(1, ds.ndim) if first is not None else range(ds.ndim)
    if first is not None:
        ds.dims[0].attach_scale(first)
    for j, k in enumerate(axes):
        dim, values, attrs = wanted[j] if j < len(wanted) else (None, None, None)
        if dim in sizes and _decode(sizes[dim]) != ds.shape[k]:
            dim = None                  # e.g. the multilayer W0 is m x m: its axis 1 is no feature
        tries = ([(dim, values)] if dim else []) + ([(f"{base}_{dim}", values)] if dim and values is not None else []) \
            + [(f"{base}_dim{k}", None)]
        for name, vals in tries:
            scale = _dimension(g, name, ds.shape[k], vals, attrs if vals is not None else None)
            if scale is not None:
                break
        else:
            raise ValueError(f"{ds.name}: no free name for the dimension of axis {k} "
                             f"(tried {', '.join(n for n, _ in tries)})")
        ds.dims[k].attach_scale(scale)


def _metric_dims(name: str, shape: tuple, attrs: Mapping[str, Any]) -> tuple:
    """(dimension, values, attrs) for each axis after the first of metric ``name``."""
    out = []
    dims = METRIC_DIMS.get(name, ())
    for k, length in enumerate(shape):
        dim = dims[k] if k < len(dims) else None
        values, dattrs = None, None
        if dim == "quantile":
            levels = attrs.get("quantiles")
            if isinstance(levels, (list, tuple, np.ndarray)) and len(levels) == length:
                values = np.asarray(levels, dtype=np.float64)
                dattrs = {**_units_attrs(_D), "long_name": "quantile level"}
        elif dim == "phase":
            phases = attrs.get("phases")
            if isinstance(phases, (list, tuple, np.ndarray)) and len(phases) == length:
                values = np.array([str(p) for p in phases], dtype=object)
                dattrs = {"long_name": "phase of the step"}
        out.append((dim, values, dattrs))
    return tuple(out)


def _delete_dataset(g: h5py.Group, name: str) -> None:
    """Delete ``g[name]`` after detaching its scales (a scale keeps back references otherwise)."""
    ds = g[name]
    if isinstance(ds, h5py.Dataset):
        for k in range(ds.ndim):
            for scale in list(ds.dims[k].values()):
                ds.dims[k].detach_scale(scale)
    del g[name]


def _write_array(g: h5py.Group, gname: str, name: str, value: Any, dims: Mapping[str, tuple] | None) -> None:
    """An array of /data or /final with a scale on every axis, CF ``long_name`` when known."""
    if name in g:
        _delete_dataset(g, name)
    arr = _as_array(name, value)
    ds = g.create_dataset(name, data=arr)
    known, long_name = ARRAY_DIMS.get((gname, name), ((), ""))
    names = tuple((dims or {}).get(name, known))
    if ds.ndim:
        _attach_dims(g, ds, tuple((names[k] if k < len(names) else None, None, None) for k in range(ds.ndim)))
    if long_name:
        _set_attrs(ds, {"long_name": long_name})


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
    ``finish``) ``completed``; the exception is re-raised.  If someone else
    replaces or removes ``path`` while the writer holds it, the writer's next
    structural change raises TraceError and it never writes ``path`` again.
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
        self._identity: tuple[int, int] | None = None   # (device, inode) of the file we published
        self._lost = False          # path was replaced or removed by someone else: never publish again
        self._batching = 0          # > 0 inside `batch()`: structural changes wait for one publish
        self._finished: str | None = None
        self._rows = {STATE: 0, STEP: 0}
        self._kinds: dict[str, str] = {}                       # metric -> kind
        self._rowinfo: dict[str, tuple[tuple, np.dtype]] = {}   # metric -> (row shape, dtype)
        self._ids: dict[str, Any] = {}                          # cached low-level dataset ids
        self._pending: dict[str, dict[str, Any]] = {}   # describe() for metrics not yet created
        self._scales: set[str] = set(_SCALE_NAMES)      # names of /trace taken by dimension scales

    # ------------------------------------------------------------ creation
    @classmethod
    def create(cls, path, *, overwrite: bool = False, attrs: Mapping[str, Any] | None = None) -> "TraceWriter":
        """Create a new trace at ``path`` (status ``running``) and return its writer.

        Raises FileExistsError if ``path`` exists and not ``overwrite``, and with
        ``overwrite`` if ``path`` is anything but a simulator trace no live writer
        holds (a symbolic link, a device, another file, a running trace; the
        message says which); FileNotFoundError / NotADirectoryError /
        PermissionError if its directory does not exist or is not writable
        (directories are never created here).  On any failure nothing is left
        behind.
        """
        path = os.path.abspath(os.fspath(path))
        d = os.path.dirname(path)
        if os.path.isdir(path) and not os.path.islink(path):
            raise IsADirectoryError(f"{path}: is a directory; give a file name for the trace")
        if not os.path.exists(d):
            raise FileNotFoundError(f"{path}: output directory {d} does not exist")
        if not os.path.isdir(d):
            raise NotADirectoryError(f"{path}: {d} is not a directory")
        if not os.access(d, os.W_OK | os.X_OK):
            raise PermissionError(f"{path}: output directory {d} is not writable")
        if os.path.lexists(path):
            if not overwrite:
                raise FileExistsError(f"{path}: file exists; refusing to overwrite it (--overwrite, or overwrite=True from Python)")
            why = _why_not_replaceable(path)    # checked again, under the lock, when publishing
            if why:
                raise FileExistsError(f"{path}: {why}; refusing to overwrite")
        if path in _WRITING:          # (a trace of this process's pid is not "live" below)
            raise FileExistsError(f"{path}: is being written by this process; refusing to overwrite")
        _remove_stale_partials(path)
        self = cls(path, overwrite=overwrite, _internal=True)
        _WRITING.add(path)
        try:
            _remove(self._partial)
            self._staging = True        # from here on the partial file is ours to remove
            self._f = h5py.File(self._partial, "w-", libver=LIBVER)
            root = {"schema_version": SCHEMA_VERSION, "status": "running", "error": "",
                    "created": _now(), "finished": ""}
            root.update(_environment_attrs())
            root.update(dict(attrs or {}))
            root["schema_version"] = SCHEMA_VERSION   # not overridable
            root["status"] = "running"
            _set_attrs(self._f, root)
            self._f.attrs["_NCProperties"] = _nc_properties()
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
        Each call is a structural change (one copy of the file): pass many at once, or use ``batch()``.
        """
        attrs = {**dict(values or {}), **attrs}
        for reserved in ("schema_version", "status", "_NCProperties"):
            if reserved in attrs:
                raise ValueError(f"{reserved!r} is managed by the writer (use finish() for status)")
        f = self._stage()
        _set_attrs(f, attrs)
        self._publish()

    def write_data(self, *, X=None, y=None, a=None, W0=None, w0_limit: int = DEFAULT_W0_LIMIT,
                   note: str = "", attrs: Mapping[str, Any] | None = None,
                   dims: Mapping[str, tuple[str, ...]] | None = None, **arrays: Any) -> None:
        """Write the problem data into /data (float64 / int64, never down-cast).

        W0 is stored only while ``W0.size <= w0_limit``; otherwise /data gets
        ``W0_omitted = True`` plus ``W0_shape`` and ``note`` (say how to
        regenerate it, e.g. "init stream of seed 7").  ``dims`` names the
        dimensions of an array's axes (``{"W0": ("neuron", "neuron_in")}``);
        by default those of ``ARRAY_DIMS``.
        """
        f = self._stage()
        g = f.require_group("data")
        items = {"X": X, "y": y, "a": a, **arrays}
        for name, v in items.items():
            if v is None:
                continue
            _write_array(g, "data", name, v, dims)
        if W0 is not None:
            W0 = np.asarray(W0)
            if "W0" in g:
                _delete_dataset(g, "W0")
            if W0.size <= w0_limit:
                _write_array(g, "data", "W0", W0, dims)
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
        """Set units/description/kind/extra attrs (e.g. ``phases=[...]``, ``long_name=``) of a metric.

        Best called before the metric's first row (then it costs nothing, and
        ``phases`` / ``quantiles`` become the values of its scale); afterwards
        it updates the dataset's attrs only.
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
        if f is not None and "trace" in f and name in f["trace"] and name in self._kinds:
            if "kind" in spec and spec["kind"] != self._kinds.get(name):
                raise ValueError(f"metric {name!r} already exists as a {self._kinds.get(name)} metric")
            if "units" in spec:
                spec.update(_units_attrs(spec.pop("units")))
            f = self._stage()
            _set_attrs(f["trace"][name], spec)
            self._publish()
        else:
            self._pending.setdefault(name, {}).update(spec)

    def write_final(self, values: Mapping[str, Any], attrs: Mapping[str, Any] | None = None,
                    dims: Mapping[str, tuple[str, ...]] | None = None) -> None:
        """Write arrays/scalars into /final/<name>; ``dims`` as for ``write_data``."""
        f = self._stage()
        g = f.require_group("final")
        for name, v in values.items():
            _write_array(g, "final", name, v, dims)
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
        # every dataset of a dimension gets its length (netCDF readers know no commit record)
        g = f.get("trace")
        if g is not None:
            for name, kind in [*self._kinds.items(), ("t", STATE), ("step", STEP)]:
                if name in g:
                    g[name].resize(self._rows[kind], axis=0)
        self._f = None
        self._ids.clear()
        f.close()
        self._install()
        self._finished = status
        _WRITING.discard(self.path)

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
            self._publish(now=True)
        else:
            self._f.flush()

    @contextlib.contextmanager
    def batch(self):
        """Make the structural changes inside the block (``set_attrs``, ``write_data``, ``write_final``, new
        metrics, ``finish``) one copy of the file and one publish, at the block's end, instead of one each.

        A kill inside the block leaves the version published before it, as for a single change. An append
        inside the block publishes what the block has staged so far (appends are durable when they return);
        ``finish`` inside it installs everything at once. An exception leaving the block publishes nothing:
        the writer's own exit (``failed``/``interrupted``) then installs the staged changes with the status.
        """
        self._batching += 1
        try:
            yield self
        finally:
            self._batching -= 1
        if not self._batching and self._staging and self._f is not None and self._finished is None:
            self._publish()

    @property
    def rows(self) -> dict[str, int]:
        """Committed rows: {"state": T+1, "step": K}."""
        return dict(self._rows)

    def close(self) -> None:
        """Close without changing the status (an unfinished trace stays ``running``)."""
        try:
            if self._f is not None:
                f, self._f = self._f, None
                self._ids.clear()
                f.close()
                if self._staging:
                    self._install()
        finally:
            self._abandon()
            _WRITING.discard(self.path)

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
            # never mask the original exception; leave the file as it is (running)
            try:
                self.close()
            except BaseException:
                pass
            if exc_type is None:
                raise
        return False

    # ------------------------------------------------------------ internals
    def _check_open(self) -> None:
        if self._finished is not None:
            raise RuntimeError(f"{self.path}: trace already finished ({self._finished})")
        if self._lost:
            raise TraceError(f"{self.path}: was replaced or removed by another process while this run "
                             "was writing it; this writer stopped")

    def _check_ours(self) -> None:
        """Raise TraceError (and never publish again) if ``path`` is no longer the file we published."""
        if self._published and _identity(self.path) != self._identity:
            self._lost = True
            self._abandon()
            raise TraceError(f"{self.path}: was replaced or removed by another process while this run "
                             "was writing it; this writer stopped (the file there is not this run's)")

    def _stage(self) -> h5py.File:
        """Return a file handle on which structural changes are safe (the private copy)."""
        self._check_open()
        if self._staging and self._f is not None:
            return self._f
        if self._f is not None:
            f, self._f = self._f, None
            f.close()                      # clean close: path is now a plain, consistent file
        self._ids.clear()
        self._check_ours()                 # never copy (and later publish) someone else's file
        self._staging = True
        try:
            _copy_to_new(self.path, self._partial)
            self._f = h5py.File(self._partial, "r+", libver=LIBVER)
        except BaseException:
            self._abandon()
            raise
        return self._f

    def _publish(self, now: bool = False) -> None:
        """Enter SWMR mode on the private copy (flushes it completely) and rename it over path. Inside
        `batch()` this waits for the batch's end, unless ``now`` (an append: durable when it returns)."""
        if self._batching and not now:
            return
        f = self._f
        assert f is not None and self._staging
        f.swmr_mode = True
        self._install()

    def _install(self) -> None:
        """Rename the private copy over ``path``, holding the directory lock, if ``path`` is
        still what it should be: absent or a replaceable trace (first time), else our own
        file.  On refusal the copy is removed and the writer is done."""
        try:
            new_identity = _identity(self._partial)
            with _directory_lock(self.path):
                if self._published:
                    self._check_ours()
                    os.replace(self._partial, self.path)
                elif not self._overwrite:
                    try:
                        os.link(self._partial, self.path)        # atomic "create if absent"
                    except FileExistsError:
                        raise FileExistsError(f"{self.path}: file exists; refusing to overwrite it "
                                              "(--overwrite, or overwrite=True from Python)") from None
                    except OSError:                              # no hard links on this file system
                        if os.path.lexists(self.path):
                            raise FileExistsError(f"{self.path}: file exists; refusing to overwrite it "
                                                  "(--overwrite, or overwrite=True from Python)") from None
                        os.replace(self._partial, self.path)
                    else:
                        os.unlink(self._partial)
                else:
                    why = _why_not_replaceable(self.path)
                    if why:
                        raise FileExistsError(f"{self.path}: {why}; refusing to overwrite")
                    os.replace(self._partial, self.path)
        except BaseException:
            self._abandon()
            raise
        self._identity = new_identity
        self._published = True
        self._staging = False

    def _abandon(self) -> None:
        """Close the file and remove the private copy: nothing of this writer is left but ``path``."""
        self._ids.clear()
        if self._f is not None:
            try:
                self._f.close()
            except Exception:
                pass
            self._f = None
        if self._staging:
            _remove(self._partial)
            self._staging = False
        if not self._published or self._lost:
            _WRITING.discard(self.path)

    def _spec_attrs(self, name: str, kind: str) -> dict[str, Any]:
        spec = METRICS.get(name)
        pending = dict(self._pending.get(name, {}))
        label = pending.pop("units", spec.units if spec is not None else "")
        description = pending.get("description", spec.description if spec is not None else "")
        attrs: dict[str, Any] = {**_units_attrs(label),
                                 "long_name": (spec.long_name if spec is not None else "") or description or name,
                                 "description": description, "kind": kind}
        attrs.update(METRIC_ATTRS.get(name, {}))
        attrs.update(pending)
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
        _set_attrs(ds, {**_units_attrs(spec.units), "long_name": spec.long_name,
                        "description": spec.description, "kind": kind})
        ds.make_scale(sname)
        ds.attrs["_Netcdf4Dimid"] = np.int32(_next_dimid(f))

    def _create_metric(self, f: h5py.File, name: str, kind: str, row: np.ndarray, nrows: int) -> h5py.Dataset:
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
        if row.dtype.kind in "fiu":
            # CF's missing-value marker, the same as HDF5's fill value: netCDF-C and xarray read
            # this attr, not the fill value (booleans get none: False is a value, not "missing")
            ds.attrs["_FillValue"] = np.array([_fill_for(row.dtype)], dtype=ds.dtype)
        self._kinds[name] = kind
        self._rowinfo[name] = (tuple(row.shape), ds.dtype)
        self._pending.pop(name, None)
        return ds

    def _attach_metric_dims(self, f: h5py.File, name: str) -> None:
        g = f["trace"]
        ds = g[name]
        attrs = {k: _decode(v) for k, v in ds.attrs.items()}
        _attach_dims(g, ds, _metric_dims(name, ds.shape[1:], attrs), first=g[_SCALE[self._kinds[name]]])
        for k in range(1, ds.ndim):
            self._scales.add(ds.dims[k][0].name.rsplit("/", 1)[-1])

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
                if name in self._scales:
                    raise ValueError(f"{name!r} is the name of a dimension scale in /trace; "
                                     "choose another metric name")
                if "/" in name or not name:
                    raise ValueError(f"invalid metric name {name!r}")
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
            created = []
            for kind, name in new:
                if name is not None:
                    row, vals = prepared[kind]
                    self._create_metric(f, name, kind, vals[name], nrows=self._rows[kind])
                    created.append(name)
            # scales after every new metric: a scale's name never collides with a metric's
            for name in created:
                self._attach_metric_dims(f, name)
        # ---- data rows of every metric of the kind (missing ones get the fill value)
        for kind, (row, vals) in prepared.items():
            for name, k in self._kinds.items():
                if k == kind:
                    self._write_row(name, row, vals.get(name))
        # ---- commit: data first, then the scales (the commit record)
        if self._staging:
            for kind, (row, _) in prepared.items():
                self._write_row(_SCALE[kind], row, np.int64(row if kind == STATE else row + 1))
            self._publish(now=True)
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
    Reads schema versions 1 and 2.  Raises TraceError, at once, for a file that
    is missing, not a regular file, not HDF5, damaged (truncated: the message
    says how many iterations survived) or not a simulator trace.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self._f = _open_for_read(self.path)
        try:
            self.schema_version = _check_schema(self.path, self._f)
            self.attrs: dict[str, Any] = {k: _decode(v) for k, v in self._f.attrs.items()
                                          if k not in _NC_ATTRS}
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

    @property
    def has_rows(self) -> bool:
        """True if /trace exists and holds at least the initial state row."""
        return self._n_state > 0

    def has_group(self, name: str) -> bool:
        """True if the file has the group ``name`` ("trace", "data", "final", "validation")."""
        return isinstance(self._f.get(name.strip("/")), h5py.Group)

    def names(self) -> list[str]:
        """Metric datasets in /trace (dimension scales excluded), sorted."""
        g = self._f.get("trace")
        if g is None:
            return []
        return sorted(k for k, obj in g.items() if isinstance(obj, h5py.Dataset) and not _is_scale(obj))

    def kind(self, name: str) -> str:
        return str(_decode(self._dataset(name).attrs.get("kind", "")))

    def units(self, name: str) -> str:
        """The unit as shown (count, dimensionless, s, ...); the file's CF ``units`` attr is "1" for most."""
        attrs = self._dataset(name).attrs
        return str(_decode(attrs.get("units_label", attrs.get("units", ""))))

    def description(self, name: str) -> str:
        return str(_decode(self._dataset(name).attrs.get("description", "")))

    def metric_attrs(self, name: str) -> dict[str, Any]:
        ds = self._dataset(name)
        return {k: _decode(v) for k, v in ds.attrs.items() if k not in _DS_ATTRS and k not in _NC_ATTRS}

    def dims(self, name: str) -> tuple[str, ...]:
        """Names of the dimensions of a dataset's axes ("" where none is attached: schema 1)."""
        ds = self._dataset(name)
        return tuple(dim[0].name.rsplit("/", 1)[-1] if len(dim) else "" for dim in ds.dims)

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
        base = ds.name.rsplit("/", 1)[-1]
        if base == "step":
            return self._n_step
        if base == "t":
            return self._n_state
        if _is_scale(ds):                  # a fixed-size scale (point, phase, ...): all of it
            return None
        kind = _decode(ds.attrs.get("kind", ""))
        return self._n_step if kind == STEP else self._n_state

    def __getitem__(self, name: str) -> np.ndarray:
        """A metric ("loss"), a scale ("t", "phase"), or any dataset by path ("data/X", "final/f")."""
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
            if isinstance(obj, h5py.Dataset) and not _is_scale(obj):
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

def _copy_attrs(src, dst) -> None:
    for k in src.attrs:
        if k in _DS_ATTRS:
            continue
        dst.attrs.create(k, data=src.attrs[k], dtype=src.attrs.get_id(k).dtype)


def _clone_clean(src_path: str, dst_path: str) -> None:
    """Rebuild a trace whose SWMR flags are set (writer dead) as a clean new file.

    Rows of /trace are cut to the committed ones and the dimension scales are
    made and attached afresh (object references do not survive a copy between
    files), as they were in the source.
    """
    tr = Trace(src_path)
    try:
        src = tr._f
        scales: list[tuple[str, str]] = []            # (path, NAME)
        links: list[tuple[str, int, str]] = []        # (dataset path, axis, scale path)
        _remove(dst_path)
        with h5py.File(dst_path, "w-", libver=LIBVER) as dst:
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
                        if _is_scale(obj):
                            scales.append((obj.name, str(_decode(obj.attrs.get("NAME", name)))))
                        else:
                            for k, dim in enumerate(obj.dims):
                                for scale in dim.values():
                                    links.append((obj.name, k, scale.name))
            clone(src, dst)
            for spath, sname in scales:
                dst[spath].make_scale(sname)
            g = dst.get("trace")
            if g is not None:
                for sname, n in (("t", tr._n_state), ("step", tr._n_step)):
                    if sname in g:
                        g[sname].resize(n, axis=0)
                        g[sname][:] = np.arange(n) if sname == "t" else np.arange(1, n + 1)
                for name, ds in g.items():
                    kind = _decode(ds.attrs.get("kind", "")) if isinstance(ds, h5py.Dataset) else ""
                    if kind in (STATE, STEP) and name not in _SCALE_NAMES:
                        ds.resize(tr._n_step if kind == STEP else tr._n_state, axis=0)
            for dpath, k, spath in links:
                dst[dpath].dims[k].attach_scale(dst[spath])
    finally:
        tr.close()


def _read_only_reason(path: str, st: os.stat_result) -> str | None:
    """Why /validation is not to be written into ``path``: its owner made it read-only, or it or
    its directory is not writable by us.  (A rename would replace a read-only file all the
    same; the mode is taken as the user's wish, also by root.)"""
    if not st.st_mode & stat.S_IWUSR:
        return f"is read-only (mode {stat.S_IMODE(st.st_mode):04o})"
    if not os.access(path, os.W_OK):
        return "is not writable by this user"
    d = os.path.dirname(path) or "."
    if not os.access(d, os.W_OK | os.X_OK):
        return f"is in a directory this user cannot write ({d})"
    return None


def write_validation(path, results: Mapping[str, Mapping[str, Any]], attrs: Mapping[str, Any] | None = None) -> None:
    """Write /validation (replacing an earlier one): one subgroup per check.

    ``results = {"loss_decay": {"status": "pass", "measured": 0.93, "bound": 0.95,
    "first_failing_iteration": -1, "message": "..."}, ...}``; each value becomes
    an attribute of /validation/<check> (str / int / float / lists of them).
    The file is rewritten copy-on-write, so a kill leaves the old version; the
    copy gets the file's mode (and owner, where allowed).  A symbolic link is
    followed: its target gets /validation and the link stays a link.  (A file
    with several hard links is replaced under this name only.)
    Refuses a trace whose writer is still running (TraceError), and raises
    ReadOnlyTrace, writing nothing, for a read-only file (or one in a directory
    we cannot write).
    """
    path = os.path.realpath(os.fspath(path))
    with Trace(path) as tr:
        flagged = tr._f.swmr_mode
        status = tr.status
        pid = tr.attrs.get("writer_pid")
        host = tr.attrs.get("writer_host")
    if path in _WRITING or (flagged and status == "running" and isinstance(pid, int)
                            and host == socket.gethostname() and pid != os.getpid() and _pid_alive(pid)):
        who = "this process" if path in _WRITING else f"process {pid}"
        raise TraceError(f"{path}: still being written by {who}; validate it when the run ends")
    st = os.stat(path)
    why = _read_only_reason(path, st)
    if why:
        raise ReadOnlyTrace(f"{path}: {why}; /validation not written")
    tmp = _partial_path(path)
    try:
        if flagged:
            _clone_clean(path, tmp)
        else:
            _copy_to_new(path, tmp)
        with h5py.File(tmp, "r+", libver=LIBVER) as f:
            if "validation" in f:
                del f["validation"]
            g = f.create_group("validation")
            _set_attrs(g, {"written": _now(), **dict(attrs or {})})
            for check, vals in results.items():
                if "/" in check or not check:
                    raise ValueError(f"invalid check name {check!r}")
                _set_attrs(g.create_group(check), dict(vals))
        if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
            try:
                os.chown(tmp, st.st_uid, st.st_gid)
            except OSError:
                pass                     # not root: the copy stays ours
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        with _directory_lock(path):
            if _identity(path) != (st.st_dev, st.st_ino):
                raise TraceError(f"{path}: was replaced while being validated; /validation not written")
            os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
