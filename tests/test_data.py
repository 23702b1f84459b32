"""Datasets: generation, normalisation, file loading, validity checks, separability δ."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.data import (
    DataError,
    check_dataset,
    closest_pair,
    load_file,
    make_dataset,
    normalize_rows,
    separability,
)

from naive import naive_separability


def unit(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


# --------------------------------------------------------------------------- generation


@pytest.mark.parametrize("kind", ["sphere", "clusters"])
@pytest.mark.parametrize("labels", ["gaussian", "sign", "teacher"])
def test_generated_unit_norm_float64(kind, labels):
    X, y = make_dataset(kind, 40, 7, np.random.default_rng(1), labels=labels, clusters=3, noise=0.2)
    assert X.shape == (40, 7) and y.shape == (40,)
    assert X.dtype == np.float64 and y.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=0, atol=1e-14)
    assert np.isfinite(y).all()
    if labels == "sign":
        assert set(np.unique(y)) <= {-1.0, 1.0}
    if labels == "teacher":
        assert abs(y.mean()) < 1e-12 and abs(y.std() - 1.0) < 1e-12
    assert check_dataset(X, y) is None


@pytest.mark.parametrize("kind", ["sphere", "clusters"])
def test_deterministic_by_seed(kind):
    a = make_dataset(kind, 20, 5, np.random.default_rng(7), labels="teacher")
    b = make_dataset(kind, 20, 5, np.random.default_rng(7), labels="teacher")
    c = make_dataset(kind, 20, 5, np.random.default_rng(8), labels="teacher")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    # an int seed works like default_rng(seed)
    d = make_dataset(kind, 20, 5, 7, labels="teacher")
    np.testing.assert_array_equal(a[0], d[0])


def test_sphere_is_roughly_uniform():
    X, _ = make_dataset("sphere", 20000, 3, np.random.default_rng(0))
    assert np.abs(X.mean(axis=0)).max() < 0.03
    np.testing.assert_allclose(X.T @ X / len(X), np.eye(3) / 3, atol=0.02)


def test_clusters_are_clustered():
    X, _ = make_dataset("clusters", 60, 16, np.random.default_rng(3), clusters=3, noise=0.05)
    # point i belongs to cluster i mod 3: same-cluster inner products are close to 1
    same = [X[i] @ X[i + 3] for i in range(57)]
    assert min(same) > 0.95


def test_bad_kind_and_labels():
    with pytest.raises(DataError, match="unknown data kind"):
        make_dataset("cube", 4, 2, 0)
    with pytest.raises(DataError, match="unknown labels"):
        make_dataset("sphere", 4, 2, 0, labels="binary")
    with pytest.raises(DataError, match="needs a path"):
        make_dataset("file", None, None, 0)


# --------------------------------------------------------------------------- checks


def test_duplicate_rejected_naming_pair():
    X, y = make_dataset("sphere", 10, 4, np.random.default_rng(0))
    X[7] = 3.0 * X[2]  # same direction: a duplicate after normalisation
    with pytest.raises(DataError) as ei:
        check_dataset(X, y)
    msg = str(ei.value)
    assert "duplicate" in msg and "rows 2 and 7" in msg and "δ = 0" in msg and "\n" not in msg


def test_exact_duplicate_rejected():
    X = np.array([[1.0, 0.3, 0.2], [0.1, 1.0, 0.0], [1.0, 0.3, 0.2]])
    with pytest.raises(DataError, match="rows 0 and 2"):
        check_dataset(X, np.zeros(3))


def test_antipodal_rejected_naming_pair():
    X, y = make_dataset("sphere", 10, 4, np.random.default_rng(0))
    X[5] = -X[1]
    with pytest.raises(DataError) as ei:
        check_dataset(X, y)
    msg = str(ei.value)
    assert "antipodal" in msg and "rows 1 and 5" in msg


def test_tiny_delta_warns():
    X, y = make_dataset("sphere", 10, 4, np.random.default_rng(0))
    X[4] = unit((X[3] + np.array([1e-8, 0, 0, 0]))[None])[0]
    w = check_dataset(X, y)
    assert isinstance(w, str) and "δ" in w and "rows 3 and 4" in w


@pytest.mark.parametrize("where,val,expected", [
    ("X", np.nan, "X contains NaN (row 2, column 1"),
    ("X", np.inf, "X contains inf (row 2, column 1"),
    ("y", np.nan, "y contains NaN (index 2"),
    ("y", -np.inf, "y contains inf (index 2"),
])
def test_nonfinite_rejected(where, val, expected):
    X, y = make_dataset("sphere", 5, 3, np.random.default_rng(0))
    if where == "X":
        X[2, 1] = val
    else:
        y[2] = val
    with pytest.raises(DataError, match=expected.replace("(", r"\(")):
        check_dataset(X, y)


@pytest.mark.parametrize("X,y,expected", [
    (np.zeros((3, 2)) + [[1, 0], [0, 0], [0, 1]], np.zeros(3), "row 1 of X is zero"),
    (np.eye(3), np.zeros(2), "shape mismatch"),
    (np.eye(3)[:1], np.zeros(1), "at least 2 data points"),
    (np.ones(3), np.zeros(3), "2-D"),
    (np.eye(3), np.zeros((3, 1)), "1-D"),
])
def test_shape_and_zero_row_errors(X, y, expected):
    with pytest.raises(DataError, match=expected):
        check_dataset(X, y)


def test_dataerror_is_valueerror():
    assert issubclass(DataError, ValueError)


def test_normalize_rows():
    X = np.array([[3.0, 4.0], [0.0, -2.0]])
    np.testing.assert_allclose(normalize_rows(X), [[0.6, 0.8], [0.0, -1.0]])
    assert X[0, 0] == 3.0  # input untouched
    with pytest.raises(DataError, match="row 1 of X is zero"):
        normalize_rows(np.array([[1.0, 0.0], [0.0, 0.0]]))


# --------------------------------------------------------------------------- files


def test_load_hdf5(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 5)) * 3
    y = rng.standard_normal(12)
    p = tmp_path / "d.h5"
    with h5py.File(p, "w") as f:
        f["X"] = X
        f["y"] = y
    X2, y2 = make_dataset("file", None, None, None, path=str(p))
    np.testing.assert_allclose(X2, unit(X), atol=1e-15)
    np.testing.assert_array_equal(y2, y)
    assert X2.dtype == np.float64
    X3, y3 = load_file(p, n=5, d=5)  # first n rows
    np.testing.assert_allclose(X3, unit(X[:5]), atol=1e-15)
    assert y3.shape == (5,)
    with pytest.raises(DataError, match="d.h5: X has d = 5 columns"):
        load_file(p, d=4)
    with pytest.raises(DataError, match="d.h5: has 12 rows"):
        load_file(p, n=20)


def test_load_hdf5_errors(tmp_path):
    h5py = pytest.importorskip("h5py")
    p = tmp_path / "bad.h5"
    with h5py.File(p, "w") as f:
        f["X"] = np.eye(3)
        f["labels"] = np.zeros(3)
    with pytest.raises(DataError, match=r"bad.h5: no dataset 'y' \(found: X, labels\)"):
        load_file(p)
    p = tmp_path / "nan.h5"
    X = np.eye(3)
    X[1, 1] = np.nan
    with h5py.File(p, "w") as f:
        f["X"] = X
        f["y"] = np.zeros(3)
    with pytest.raises(DataError, match="nan.h5: X contains NaN"):
        load_file(p)
    p = tmp_path / "mismatch.h5"
    with h5py.File(p, "w") as f:
        f["X"] = np.eye(3)
        f["y"] = np.zeros(4)
    with pytest.raises(DataError, match="mismatch.h5: shape mismatch"):
        load_file(p)
    p = tmp_path / "fake.h5"
    p.write_text("not hdf5")
    with pytest.raises(DataError, match="fake.h5: not a valid HDF5"):
        load_file(p)


def test_load_csv(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 3))
    y = rng.standard_normal(6)
    p = tmp_path / "d.csv"
    lines = ["x1,x2,x3,y"] + [",".join(repr(float(v)) for v in [*X[i], y[i]]) for i in range(6)]
    p.write_text("\n".join(lines) + "\n")
    X2, y2 = make_dataset("file", 6, 3, None, path=p)
    np.testing.assert_allclose(X2, unit(X), atol=1e-15)
    np.testing.assert_array_equal(y2, y)
    # no header, whitespace-separated, comments
    q = tmp_path / "d.txt"
    q.write_text("# comment\n" + "\n".join(" ".join(repr(float(v)) for v in [*X[i], y[i]]) for i in range(6)))
    X3, y3 = load_file(q)
    np.testing.assert_allclose(X3, X2)
    np.testing.assert_array_equal(y3, y2)


def test_load_csv_errors(tmp_path):
    p = tmp_path / "ragged.csv"
    p.write_text("1,2,3\n4,5\n")
    with pytest.raises(DataError, match="ragged.csv: line 2: expected 3 columns"):
        load_file(p)
    p = tmp_path / "zero.csv"
    p.write_text("1,0,1\n0,0,2\n0,1,3\n")
    with pytest.raises(DataError, match="zero.csv: row 1 of X is zero"):
        load_file(p)
    p = tmp_path / "inf.csv"
    p.write_text("1,0,1\n0,1,inf\n")
    with pytest.raises(DataError, match="inf.csv: y contains inf"):
        load_file(p)
    p = tmp_path / "words.csv"
    p.write_text("a,b\n1,2\nfoo,bar\n")
    with pytest.raises(DataError, match="words.csv: line 3"):
        load_file(p)
    with pytest.raises(DataError, match="missing.csv: no such file"):
        load_file(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="is a directory"):
        load_file(tmp_path)


def test_csv_header_is_strict(tmp_path):
    rng = np.random.default_rng(2)
    A = rng.standard_normal((10, 4))
    rows = [",".join(repr(float(v)) for v in r) for r in A]
    # a typo in the first row of a header-less file is an error, not a header (no row is dropped)
    p = tmp_path / "typo.csv"
    p.write_text("\n".join([rows[0].replace(rows[0].split(",")[1], "x", 1), *rows[1:]]) + "\n")
    with pytest.raises(DataError, match=r"typo.csv: line 1, column 2: 'x' is not a number \(the first line mixes"):
        load_file(p)
    p.write_text("\n".join(rows) + "\n")
    assert load_file(p)[0].shape == (10, 3)
    # a header is a line with no numeric field, naming as many columns as the rows have
    p.write_text("x1,x2,x3,y\n" + "\n".join(rows) + "\n")
    assert load_file(p)[0].shape == (10, 3)
    p.write_text("x1,x2,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match="line 1: the header names 3 columns but the rows have 4"):
        load_file(p)
    p.write_text("x1,2,x3,y\n" + "\n".join(rows) + "\n")  # a name that reads as a number: not a header
    with pytest.raises(DataError, match="line 1, column 1: 'x1' is not a number"):
        load_file(p)
    # only one header line, and only first
    p.write_text("a,b,c,y\nd,e,f,z\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match="line 2, column 1: 'd' is not a number$"):
        load_file(p)
    p.write_text("\n".join(rows[:3]) + "\n1,,2,3\n")
    with pytest.raises(DataError, match="line 4, column 2: empty field$"):
        load_file(p)
    # a byte-order mark (spreadsheet exports) and quoted fields are read
    p.write_bytes(("\ufeff" + "\n".join(rows) + "\n").encode("utf-8"))
    np.testing.assert_array_equal(load_file(p)[1], A[:, 3])
    p.write_text("\n".join(",".join(f'"{v}"' for v in r.split(",")) for r in rows) + "\n")
    np.testing.assert_array_equal(load_file(p)[1], A[:, 3])


def test_unsupported_files_name_the_formats(tmp_path):
    A = np.random.default_rng(3).standard_normal((5, 3))
    for name, write, what in [
        ("a.npy", lambda p: np.save(p, A), "a NumPy .npy file"),
        ("a.npz", lambda p: np.savez(p, X=A), "a zip archive, e.g. NumPy .npz"),
        ("a.dat", lambda p: p.write_bytes(b"\x01\x02\x00\x03"), "a binary file, not text"),
        ("a.csv", lambda p: p.write_bytes("é,1\n2,3\n".encode("latin-1")), "not UTF-8 text: byte 0xe9 at offset 0"),
    ]:
        p = tmp_path / name
        write(p)
        with pytest.raises(DataError) as ei:
            load_file(p)
        assert str(ei.value) == (f"{p}: unsupported format ({what}); use HDF5 (datasets X (n, d) and y (n,)) or "
                                 f"CSV (a row per point: its features, then y)")
    p = tmp_path / "e.csv"
    for text, what in [("", "the file is empty or only comments"), ("# nothing\n\n", "the file is empty or only "
                       "comments"), ("a,b\n", "only the header line 1")]:
        p.write_text(text)
        with pytest.raises(DataError, match=f"e.csv: no data rows \\({what}\\); use HDF5"):
            load_file(p)


def test_hdf5_without_x_y_or_complex(tmp_path):
    h5py = pytest.importorskip("h5py")
    p = tmp_path / "t.h5"
    with h5py.File(p, "w") as f:  # a simulator trace keeps its data under /data
        f["data/X"] = np.eye(3)
        f["data/y"] = np.zeros(3)
    with pytest.raises(DataError, match=r"t.h5: no dataset 'X' \(found: data\) \(a simulator trace\? its data are "
                                        r"/data/X and /data/y\); expected datasets 'X' \(n, d\) and 'y' \(n,\)"):
        load_file(p)
    with h5py.File(p, "w") as f:
        f["X"] = np.eye(3) + 1j
        f["y"] = np.zeros(3)
    with pytest.raises(DataError, match="t.h5: dataset X is complex"):
        load_file(p)


def test_normalize_rows_survives_overflow_and_underflow():
    X = np.array([[1e300, 2e300], [3e-320, 4e-320], [3.0, 4.0]])
    np.testing.assert_allclose(normalize_rows(X), [[1 / 5**0.5, 2 / 5**0.5], [0.6, 0.8], [0.6, 0.8]], rtol=1e-3)
    np.testing.assert_array_equal(normalize_rows(X)[2], [0.6, 0.8])  # ordinary rows exactly as before


# --------------------------------------------------------------------------- separability


@pytest.mark.parametrize("seed", range(5))
def test_separability_matches_naive(seed):
    rng = np.random.default_rng(seed)
    X = unit(rng.standard_normal((25, 4)))
    assert separability(X) == pytest.approx(naive_separability(X), rel=1e-12)


def test_separability_close_pairs_accurate():
    rng = np.random.default_rng(0)
    X = unit(rng.standard_normal((15, 6)))
    for eps in (1e-3, 1e-6, 1e-9):
        Y = X.copy()
        Y[9] = unit((X[4] + eps * rng.standard_normal(6))[None])[0]
        Y[11] = -unit((X[2] + 0.1 * eps * rng.standard_normal(6))[None])[0]
        ref = naive_separability(Y)
        assert separability(Y) == pytest.approx(ref, rel=1e-6)
        _, i, j = closest_pair(Y)
        assert (i, j) == (2, 11)


def test_separability_edge_cases():
    assert separability(np.eye(3)[:1]) == np.inf
    assert separability(np.eye(4)) == pytest.approx(np.sqrt(2))
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    assert separability(X) == 0.0 and closest_pair(X)[1:] == (0, 1)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_separability_property(n, d, seed):
    X = unit(np.random.default_rng(seed).standard_normal((n, d)))
    assert separability(X) == pytest.approx(naive_separability(X), rel=1e-9, abs=1e-12)
