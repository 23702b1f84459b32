"""Datasets: generation, loading, unit normalisation and separability δ (docs/theory.md §1).

Public API
----------
- ``make_dataset(kind, n, d, rng, **params) -> (X, y)``: float64, rows of X unit-norm.
- ``check_dataset(X, y) -> str | None``: raises :class:`DataError` on unusable data,
  returns a warning string when δ is tiny, else None.
- ``separability(X)``: δ of unit-norm rows; ``closest_pair(X)``: (δ, i, j).
- ``normalize_rows(X)``: unit-normalise rows (DataError on zero / non-finite rows).

This module sits at the bottom layer: it knows nothing about scenarios or config.
"""

import math
import os
from pathlib import Path

import numpy as np

KINDS = ("sphere", "clusters", "file")
LABELS = ("gaussian", "sign", "teacher")

# δ at or below this is "zero to round-off" (duplicate / antipodal rows); check_dataset rejects.
DELTA_ZERO_TOL = 1e-12
# δ below this (but above DELTA_ZERO_TOL) draws a warning: λ >= e^{-b²/2}·δ/(100 n²) is then tiny.
DELTA_WARN = 1e-6
# Width of the random teacher network used by labels="teacher".
TEACHER_WIDTH = 64

_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")


class DataError(ValueError):
    """A dataset that the simulator cannot use; the message is one line naming the problem."""


# --------------------------------------------------------------------------- separability


def closest_pair(X):
    """Return (δ, i, j), i < j, for the pair attaining δ = min_{i≠j} min(‖x_i−x_j‖, ‖x_i+x_j‖).

    Rows are assumed unit-norm. The Gram matrix locates the candidates (largest |⟨x_i,x_j⟩|);
    when δ is small the distance is recomputed directly from the rows, because
    sqrt(2 − 2|c|) loses all accuracy for |c| ≈ 1 (round-off in c is ~1e-16, so δ would be
    wrong by ~1e-8). (i, j) = (-1, -1) and δ = inf when n < 2.
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    if n < 2:
        return float("inf"), -1, -1
    C = np.abs(X @ X.T)
    np.fill_diagonal(C, -np.inf)
    cmax = float(C.max())
    if cmax < 0.999:  # δ > 0.044: the Gram formula is accurate to ~1e-14 relative
        k = int(np.argmax(C))
        i, j = divmod(k, n)
        return float(np.sqrt(max(2.0 - 2.0 * min(cmax, 1.0), 0.0))), min(i, j), max(i, j)
    # Candidates: every pair whose |c| is within a generous round-off slack of the maximum.
    ii, jj = np.nonzero(np.triu(C >= cmax - 1e-9, 1))
    best = (float("inf"), -1, -1)
    chunk = 4096
    for s in range(0, ii.size, chunk):
        a, b = ii[s:s + chunk], jj[s:s + chunk]
        dm = np.linalg.norm(X[a] - X[b], axis=1)
        dp = np.linalg.norm(X[a] + X[b], axis=1)
        dist = np.minimum(dm, dp)
        k = int(np.argmin(dist))
        if dist[k] < best[0]:
            best = (float(dist[k]), int(a[k]), int(b[k]))
    return best


def separability(X):
    """δ = min_{i≠j} min(‖x_i − x_j‖, ‖x_i + x_j‖) for unit-norm rows (Def. 2.11).

    For unit vectors ‖x_i ∓ x_j‖² = 2 ∓ 2⟨x_i, x_j⟩, so δ comes from the largest |⟨x_i, x_j⟩|
    (recomputed directly from the rows when it is close to 1, see :func:`closest_pair`).
    """
    return closest_pair(X)[0]


# --------------------------------------------------------------------------- normalisation


def _check_finite(X, y, where=""):
    pre = f"{where}: " if where else ""
    if X is not None:
        bad = ~np.isfinite(X)
        if bad.any():
            i, j = (int(v) for v in np.argwhere(bad)[0])
            kind = "NaN" if np.isnan(X[i, j]) else "inf"
            raise DataError(f"{pre}X contains {kind} (row {i}, column {j}; "
                            f"{int(bad.any(axis=1).sum())} bad row(s) in all)")
    if y is not None:
        bad = ~np.isfinite(y)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            kind = "NaN" if np.isnan(y[i]) else "inf"
            raise DataError(f"{pre}y contains {kind} (index {i}; {int(bad.sum())} bad value(s) in all)")


def normalize_rows(X, where=""):
    """Return a float64 copy of X with unit-norm rows (docs/theory.md §1: normalise on load).

    Raises DataError for non-finite entries or a zero row (which cannot be normalised).
    """
    X = np.array(X, dtype=np.float64, copy=True)
    pre = f"{where}: " if where else ""
    if X.ndim != 2:
        raise DataError(f"{pre}X must be a 2-D array (n, d), got shape {X.shape}")
    _check_finite(X, None, where)
    with np.errstate(over="ignore", under="ignore"):
        norms = np.linalg.norm(X, axis=1)
    # rows whose squares overflow (entries ~1e155 and up) or underflow to a zero norm: scale by the
    # largest entry first. Only those rows, so ordinary data normalise exactly as before.
    odd = np.flatnonzero(~np.isfinite(norms) | ((norms == 0.0) & np.any(X != 0.0, axis=1)))
    if odd.size:
        big = np.abs(X[odd]).max(axis=1)
        norms[odd] = big * np.linalg.norm(X[odd] / big[:, None], axis=1)
    zero = np.flatnonzero(norms == 0.0)
    if zero.size:
        raise DataError(f"{pre}row {int(zero[0])} of X is zero and cannot be normalised to unit norm"
                        + (f" ({zero.size} zero rows in all)" if zero.size > 1 else ""))
    X /= norms[:, None]
    return X


# --------------------------------------------------------------------------- checks


def check_dataset(X, y):
    """Validate a dataset; raise DataError (one line) or return a warning string / None.

    Errors: X not 2-D or y not 1-D, shape mismatch, n < 2, d < 1, NaN/inf in X or y,
    a zero row in X, duplicate or antipodal rows (δ = 0, naming the pair). Rows need not be
    unit-norm already; δ is computed on the normalised rows. Warning: δ < DELTA_WARN.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2:
        raise DataError(f"X must be a 2-D array (n, d), got shape {X.shape}")
    if y.ndim != 1:
        raise DataError(f"y must be a 1-D array (n,), got shape {y.shape}")
    n, d = X.shape
    if y.shape[0] != n:
        raise DataError(f"shape mismatch: X has {n} rows but y has {y.shape[0]} entries")
    if n < 2:
        raise DataError(f"need at least 2 data points, got n = {n}")
    if d < 1:
        raise DataError(f"need input dimension d >= 1, got d = {d}")
    for name, arr in (("X", X), ("y", y)):
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
                or arr.dtype == np.bool_):
            raise DataError(f"{name} must be numeric, got dtype {arr.dtype}")
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    _check_finite(X, y)
    Xn = normalize_rows(X)
    delta, i, j = closest_pair(Xn)
    if delta <= DELTA_ZERO_TOL:
        same = np.linalg.norm(Xn[i] - Xn[j]) <= np.linalg.norm(Xn[i] + Xn[j])
        what = (f"duplicate points: rows {i} and {j} are the same direction (x_{i} = x_{j})" if same
                else f"antipodal points: rows {i} and {j} are opposite (x_{i} = -x_{j})")
        raise DataError(f"{what} after unit normalisation, so δ = 0 and the NTK is singular "
                        f"(λ = 0); remove one of them")
    if delta < DELTA_WARN:
        return (f"data separability δ = {delta:.3g} < {DELTA_WARN:g} (rows {i} and {j} are nearly "
                f"{'parallel' if np.dot(Xn[i], Xn[j]) > 0 else 'antipodal'}); λ and the bounds will be tiny")
    return None


# --------------------------------------------------------------------------- generation


def _rng(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _sphere(n, d, rng):
    return rng.standard_normal((n, d))  # normalised by the caller: uniform on S^{d-1}


def _clusters(n, d, rng, k, noise):
    centers = normalize_rows(rng.standard_normal((k, d)))
    assign = np.arange(n) % k  # balanced, deterministic assignment of points to clusters
    # spread `noise` = expected norm of the offset before normalisation
    return centers[assign] + noise * rng.standard_normal((n, d)) / math.sqrt(d)


def _labels(kind, X, rng):
    n, d = X.shape
    if kind == "gaussian":
        return rng.standard_normal(n)
    if kind == "sign":
        return rng.choice(np.array([-1.0, 1.0]), size=n)
    if kind == "teacher":
        V = rng.standard_normal((TEACHER_WIDTH, d))
        a = rng.choice(np.array([-1.0, 1.0]), size=TEACHER_WIDTH)
        y = np.maximum(X @ V.T, 0.0) @ a / math.sqrt(TEACHER_WIDTH)
        y = y - y.mean()
        s = y.std()
        return y / s if s > 0 else y
    raise ValueError(f"unknown labels {kind!r}; choose one of {', '.join(LABELS)}")


#: what load_file reads, for messages about a file it cannot
SUPPORTED = "use HDF5 (datasets X (n, d) and y (n,)) or CSV (a row per point: its features, then y)"

# signatures of binary formats people hand over by mistake, for a message naming what the file is
_MAGICS = ((b"\x93NUMPY", "a NumPy .npy file"), (b"PK\x03\x04", "a zip archive, e.g. NumPy .npz"),
           (b"\x89PNG", "a PNG image"), (b"%PDF", "a PDF file"), (b"\x1f\x8b", "a gzip file"),
           (b"PAR1", "a Parquet file"), (b"\x80", "a Python pickle"))


def _unsupported(path, what):
    return DataError(f"{path}: unsupported format ({what}); {SUPPORTED}")


def _decode_text(path, data):
    """The file's text, or DataError naming a binary format instead of a codec error."""
    for magic, what in _MAGICS:
        if data.startswith(magic):
            raise _unsupported(path, what)
    if b"\x00" in data[:65536]:
        raise _unsupported(path, "a binary file, not text")
    try:
        return data.decode("utf-8-sig")  # a byte-order mark (spreadsheet exports) is not part of the header
    except UnicodeDecodeError as e:
        raise _unsupported(path, f"not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start}") from None


def _fields(line):
    parts = line.split(",") if "," in line else line.split()
    out = []
    for p in parts:
        p = p.strip()
        if len(p) >= 2 and p[0] == p[-1] and p[0] in "\"'":  # a quoted field, as some CSV writers write them all
            p = p[1:-1].strip()
        out.append(p)
    return out


def _number(text):
    try:
        return float(text)
    except ValueError:
        return None


def _read_text(path):
    """Read delimited text: comma-separated (or whitespace), '#' comments, at most one header line.

    A header is the first non-comment line when none of its fields is a number; a line that mixes
    numbers and other text is an error naming the line and column (a typo in the first data row must
    not be taken for a header, which would drop that row silently). The header must name as many
    columns as the rows have.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    text = _decode_text(path, data)
    rows = []
    ncol = None
    header = None  # (line number, number of names)
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = _fields(line)
        vals = [_number(p) for p in parts]
        bad = [j for j, v in enumerate(vals) if v is None]
        if bad:
            if header is None and not rows and len(bad) == len(parts):
                header = (lineno, len(parts))
                continue
            j = bad[0]
            field = f"{parts[j]!r} is not a number" if parts[j] else "empty field"
            hint = ""
            if header is None and not rows and parts[j]:
                hint = (" (the first line mixes numbers and text: a header line must have no numeric field, "
                        "a data line only numbers)")
            raise DataError(f"{path}: line {lineno}, column {j + 1}: {field}{hint}")
        if ncol is None:
            ncol = len(vals)
        elif len(vals) != ncol:
            raise DataError(f"{path}: line {lineno}: expected {ncol} columns, got {len(vals)}")
        rows.append(vals)
    if not rows:
        if header is not None:
            raise DataError(f"{path}: no data rows (only the header line {header[0]}); {SUPPORTED}")
        raise DataError(f"{path}: no data rows (the file is empty or only comments); {SUPPORTED}")
    if header is not None and header[1] != ncol:
        raise DataError(f"{path}: line {header[0]}: the header names {header[1]} columns but the rows have {ncol}")
    A = np.array(rows, dtype=np.float64)
    if A.shape[1] < 2:
        raise DataError(f"{path}: need at least 2 columns (features then the label y), got {A.shape[1]}")
    return A[:, :-1], A[:, -1]


def _read_hdf5(path):
    import h5py

    try:
        with h5py.File(path, "r") as f:
            out = []
            for key in ("X", "y"):
                if key not in f or not isinstance(f[key], h5py.Dataset):
                    found = ", ".join(sorted(f.keys())) or "nothing"
                    hint = ""
                    if isinstance(f.get("data"), h5py.Group) and "X" in f["data"] and "y" in f["data"]:
                        hint = " (a simulator trace? its data are /data/X and /data/y)"
                    what = f"no dataset '{key}'" if key not in f else f"'{key}' is a group, not a dataset"
                    raise DataError(f"{path}: {what} (found: {found}){hint}; expected datasets 'X' (n, d) and "
                                    f"'y' (n,) at the root")
                out.append(np.asarray(f[key][()]))
    except OSError as e:
        raise DataError(f"{path}: cannot read HDF5: {e}") from None
    X, y = out
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)
    for name, arr in (("X", X), ("y", y)):
        if np.iscomplexobj(arr):
            raise DataError(f"{path}: dataset {name} is complex ({arr.dtype}); it must hold real numbers")
    try:
        return X.astype(np.float64), y.astype(np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{path}: datasets X and y must be numeric "
                        f"(got dtypes {X.dtype}, {y.dtype})") from None


def load_file(path, n=None, d=None):
    """Load (X, y) from HDF5 (datasets ``X``, ``y``) or delimited text (last column = y).

    The format is sniffed (HDF5 signature), not taken from the extension. Rows of X are
    unit-normalised. ``n`` (if given) keeps the first n rows; ``d`` (if given) must match.
    """
    path = os.fspath(path)
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: no such file")
    if p.is_dir():
        raise DataError(f"{path}: is a directory, expected an HDF5 or CSV file")
    import h5py

    if h5py.is_hdf5(path):
        X, y = _read_hdf5(path)
    elif p.suffix.lower() in _HDF5_SUFFIXES:
        raise DataError(f"{path}: not a valid HDF5 file (no HDF5 signature); {SUPPORTED}")
    else:
        X, y = _read_text(path)
    if X.ndim != 2:
        raise DataError(f"{path}: X must be 2-D (n, d), got shape {X.shape}")
    if y.ndim != 1:
        raise DataError(f"{path}: y must be 1-D (n,), got shape {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise DataError(f"{path}: shape mismatch: X has {X.shape[0]} rows but y has {y.shape[0]} entries")
    if d is not None and X.shape[1] != d:
        raise DataError(f"{path}: X has d = {X.shape[1]} columns but the scenario says d = {d}")
    if n is not None:
        if X.shape[0] < n:
            raise DataError(f"{path}: has {X.shape[0]} rows but the scenario asks for n = {n}")
        X, y = X[:n], y[:n]
    if X.shape[0] < 2:
        raise DataError(f"{path}: need at least 2 data points, got {X.shape[0]}")
    _check_finite(X, y, path)
    X = normalize_rows(X, path)
    return X, np.ascontiguousarray(y, dtype=np.float64)


def make_dataset(kind, n, d, rng, *, labels="gaussian", clusters=4, noise=0.1, path=None):
    """Build a dataset (X (n, d) float64 with unit-norm rows, y (n,) float64).

    kind "sphere": x uniform on S^{d-1}. kind "clusters": ``clusters`` random unit centres,
    point i belongs to centre i mod clusters, offset by ``noise``·N(0, I_d/d), then normalised.
    kind "file": ``path`` to an HDF5 file (datasets X, y) or CSV (last column y); n and d may
    be None (taken from the file); labels/clusters/noise are ignored.
    Labels: "gaussian" y ~ N(0, 1); "sign" y uniform ±1; "teacher" the output of a random
    two-layer ReLU network of width TEACHER_WIDTH, centred and scaled to unit variance.
    ``rng`` is a numpy Generator (or a seed for default_rng); X is drawn before y.
    """
    if kind == "file":
        if not path:
            raise DataError("data kind 'file' needs a path")
        return load_file(path, n=n, d=d)
    if kind not in KINDS:
        raise DataError(f"unknown data kind {kind!r}; choose one of {', '.join(KINDS)}")
    if labels not in LABELS:
        raise DataError(f"unknown labels {labels!r}; choose one of {', '.join(LABELS)}")
    if n is None or d is None or int(n) < 2 or int(d) < 1:
        raise DataError(f"need n >= 2 and d >= 1, got n = {n}, d = {d}")
    n, d = int(n), int(d)
    rng = _rng(rng)
    if kind == "sphere":
        raw = _sphere(n, d, rng)
    else:
        if int(clusters) < 1:
            raise DataError(f"need clusters >= 1, got {clusters}")
        if not (noise >= 0 and math.isfinite(noise)):
            raise DataError(f"need a finite noise >= 0, got {noise}")
        raw = _clusters(n, d, rng, int(clusters), float(noise))
    X = normalize_rows(raw)
    y = _labels(labels, X, rng)
    return X, np.ascontiguousarray(y, dtype=np.float64)
