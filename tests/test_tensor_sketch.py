"""Tests for simulator.kernels.tensor_sketch (seed 004: sketches of Kronecker rows u_i ⊗ v_i)
against the explicit (s, m²) matrices of tests/naive.py, built from the same random draws."""

import math

import numpy as np
import pytest

from simulator.kernels import tensor_sketch as ts
from simulator.kernels.tensor_sketch import (
    fwht_rows,
    gaussian_kron,
    tensor_srht,
    tensor_srht_params,
    tensorsketch,
    tensorsketch_hashes,
)

from naive import (
    naive_gaussian_kron_matrix,
    naive_hadamard,
    naive_kron_rows,
    naive_tensor_srht_matrix,
    naive_tensorsketch_matrix,
)

SKETCHES = {"tensorsketch": tensorsketch, "tensor_srht": tensor_srht, "gaussian_kron": gaussian_kron}


def naive_matrix(name, seed, m, s):
    """S (s, m²) from the naive references, fed the kernel module's documented draws."""
    if name == "tensorsketch":
        return naive_tensorsketch_matrix(*tensorsketch_hashes(seed, m, s), s)
    if name == "tensor_srht":
        D1, D2, I, J, M = tensor_srht_params(seed, m, s)
        return naive_tensor_srht_matrix(D1, D2, I, J, M, m, s)
    return naive_gaussian_kron_matrix(seed, m, s)


def sparse_rows(n, m, rng, density=0.4, zero_rows=()):
    """(U, V) with many exact zeros, rows listed in zero_rows all zero (in U for even i, in
    V for odd i, so that a zero factor on either side is exercised)."""
    U = rng.standard_normal((n, m)) * (rng.random((n, m)) < density)
    V = rng.standard_normal((n, m)) * (rng.random((n, m)) < density)
    for i in zero_rows:
        (U if i % 2 == 0 else V)[i] = 0.0
    return U, V


def assert_rows_close(got, want, U, V, S, rtol=1e-12):
    # round-off scale of each entry: Σ_j |S_kj x_j| <= max|S|·‖u‖₁‖v‖₁ (x = u ⊗ v);
    # a dot product of m² terms or an FFT of length s errs by a small multiple of eps times it
    scale = np.abs(S).max() * np.abs(U).sum(axis=1) * np.abs(V).sum(axis=1)
    err = np.abs(got - want).max(axis=1) if got.shape[1] else np.zeros(got.shape[0])
    assert np.all(err <= rtol * scale), (err, scale)


# ----------------------------------------------------------------- exactness

CASES = [  # (n, m, s): m and s powers of two or not, s = 1, s > m², s < m
    (5, 1, 1),
    (6, 3, 1),
    (7, 5, 3),
    (8, 12, 7),
    (4, 16, 16),
    (9, 37, 20),
    (3, 8, 100),
    (5, 64, 33),
]


@pytest.mark.parametrize("name", SKETCHES)
@pytest.mark.parametrize("n,m,s", CASES)
def test_equals_naive_matrix(name, n, m, s):
    rng = np.random.default_rng(1000 * n + 10 * m + s)
    U, V = sparse_rows(n, m, rng, zero_rows=(0, 1))
    seed = 17 + m + s
    S = naive_matrix(name, seed, m, s)
    want = naive_kron_rows(U, V) @ S.T
    got = SKETCHES[name](U, V, s, seed)
    assert got.shape == (n, s) and got.dtype == np.float64
    assert_rows_close(got, want, U, V, S)
    # all-zero rows (zero u or zero v) sketch to exact zeros
    assert np.all(got[:2] == 0.0)


@pytest.mark.parametrize("name", SKETCHES)
def test_dense_rows_and_empty_batch(name):
    rng = np.random.default_rng(3)
    U, V = rng.standard_normal((4, 10)), rng.standard_normal((4, 10))
    S = naive_matrix(name, 5, 10, 6)
    assert_rows_close(SKETCHES[name](U, V, 6, 5), naive_kron_rows(U, V) @ S.T, U, V, S)
    assert SKETCHES[name](np.zeros((0, 10)), np.zeros((0, 10)), 6, 5).shape == (0, 6)


def test_gaussian_blocks_do_not_change_s(monkeypatch):
    # force one a per block (and a partial last block): S must be the same columns in order
    rng = np.random.default_rng(4)
    U, V = sparse_rows(6, 11, rng, density=0.7)
    want = gaussian_kron(U, V, 5, 9)
    monkeypatch.setattr(ts, "_GAUSS_BLOCK_ENTRIES", 1)
    got = gaussian_kron(U, V, 5, 9)
    monkeypatch.setattr(ts, "_GAUSS_BLOCK_ENTRIES", 3 * 11 * 6)  # blocks of 3 a's: 3, 3, 3, 2
    got3 = gaussian_kron(U, V, 5, 9)
    S = naive_gaussian_kron_matrix(9, 11, 5)
    for g in (want, got, got3):
        assert_rows_close(g, naive_kron_rows(U, V) @ S.T, U, V, S)


@pytest.mark.parametrize("M", [1, 2, 8, 64])
def test_fwht_rows_is_hadamard(M):
    A = np.random.default_rng(M).standard_normal((3, M))
    want = A @ naive_hadamard(M).T
    fwht_rows(A)
    np.testing.assert_allclose(A, want, rtol=0, atol=1e-12 * M)


@pytest.mark.parametrize("name", SKETCHES)
def test_batch_equals_rows_alone(name):
    # rows are sketched independently: the same S for every row, no mixing between rows
    rng = np.random.default_rng(6)
    U, V = sparse_rows(7, 13, rng, zero_rows=(2,))
    f = SKETCHES[name]
    batch = f(U, V, 9, 21)
    alone = np.vstack([f(U[i:i + 1], V[i:i + 1], 9, 21) for i in range(7)])
    # equal up to the summation order BLAS / FFT may choose for a batch
    assert_rows_close(batch, alone, U, V, np.ones(1), rtol=1e-14)
    # and a permutation of the rows permutes the sketch
    p = rng.permutation(7)
    assert_rows_close(f(U[p], V[p], 9, 21), batch[p], U[p], V[p], np.ones(1), rtol=1e-14)


# ----------------------------------------------------------------- randomness

def test_hashes_reproducible_and_seed_dependent():
    h1, s1, h2, s2 = tensorsketch_hashes(7, 50, 16)
    assert h1.dtype == h2.dtype == np.int64 and s1.dtype == s2.dtype == np.float64
    assert h1.shape == s1.shape == h2.shape == s2.shape == (50,)
    assert h1.min() >= 0 and max(h1.max(), h2.max()) < 16
    assert set(np.unique(s1)) <= {-1.0, 1.0} and set(np.unique(s2)) <= {-1.0, 1.0}
    for x, y in zip((h1, s1, h2, s2), tensorsketch_hashes(7, 50, 16)):
        np.testing.assert_array_equal(x, y)
    # the documented draw order
    rng = np.random.default_rng(7)
    np.testing.assert_array_equal(h1, rng.integers(0, 16, size=50, dtype=np.int64))
    np.testing.assert_array_equal(s1, 2.0 * rng.integers(0, 2, size=50, dtype=np.int64) - 1.0)
    np.testing.assert_array_equal(h2, rng.integers(0, 16, size=50, dtype=np.int64))
    np.testing.assert_array_equal(s2, 2.0 * rng.integers(0, 2, size=50, dtype=np.int64) - 1.0)
    # the two hashes differ from each other and across seeds
    assert not np.array_equal(h1, h2)
    for x, y in zip((h1, s1, h2, s2), tensorsketch_hashes(8, 50, 16)):
        assert not np.array_equal(x, y)


def test_srht_params_reproducible_and_seed_dependent():
    D1, D2, I, J, M = tensor_srht_params(11, 37, 40)
    assert M == 64
    assert D1.shape == D2.shape == (64,) and D1.dtype == D2.dtype == np.float64
    assert I.shape == J.shape == (40,) and I.dtype == J.dtype == np.int64
    assert set(np.unique(np.r_[D1, D2])) == {-1.0, 1.0}
    assert min(I.min(), J.min()) >= 0 and max(I.max(), J.max()) < 64
    for x, y in zip((D1, D2, I, J), tensor_srht_params(11, 37, 40)[:4]):
        np.testing.assert_array_equal(x, y)
    rng = np.random.default_rng(11)
    np.testing.assert_array_equal(D1, 2.0 * rng.integers(0, 2, size=64, dtype=np.int64) - 1.0)
    np.testing.assert_array_equal(D2, 2.0 * rng.integers(0, 2, size=64, dtype=np.int64) - 1.0)
    np.testing.assert_array_equal(I, rng.integers(0, 64, size=40, dtype=np.int64))
    np.testing.assert_array_equal(J, rng.integers(0, 64, size=40, dtype=np.int64))
    for x, y in zip((D1, D2, I, J), tensor_srht_params(12, 37, 40)[:4]):
        assert not np.array_equal(x, y)
    assert [tensor_srht_params(0, m, 1)[4] for m in (1, 2, 3, 4, 5, 64, 65)] == [1, 2, 4, 4, 8, 64, 128]


def test_gaussian_reproducible_and_seed_dependent():
    rng = np.random.default_rng(12)
    U, V = rng.standard_normal((3, 6)), rng.standard_normal((3, 6))
    np.testing.assert_array_equal(gaussian_kron(U, V, 4, 1), gaussian_kron(U, V, 4, 1))
    assert not np.allclose(gaussian_kron(U, V, 4, 1), gaussian_kron(U, V, 4, 2))
    for f in (tensorsketch, tensor_srht):
        np.testing.assert_array_equal(f(U, V, 8, 1), f(U, V, 8, 1))
        assert not np.allclose(f(U, V, 8, 1), f(U, V, 8, 2))


# Unbiasedness, checked statistically. Over R independent seeds the estimates
# X_r = ⟨S_r(u⊗v), S_r(u'⊗v')⟩ are i.i.d. with finite variance (each S has finitely many
# or Gaussian entries), so by the CLT their mean lies within 5 standard errors (empirical
# std / √R) of E X = ⟨u,u'⟩⟨v,v'⟩ except with probability ≈ 6e-7 per check (normal tail);
# 5 rather than 3 because the file makes 6 such checks and must never flake. The test also
# asserts |target| > 20 standard errors, so it has the power to see a wrong scaling (a
# missing or doubled 1/√s moves the mean by ≥ 1/2 of the target, i.e. ≥ 10 standard
# errors; measured here: |target| ≈ 60-110 se). The seeds are fixed: deterministic.
UNBIASED_SIGMAS = 5.0


@pytest.mark.parametrize("name,m,s,R", [
    ("tensorsketch", 48, 16, 4000),
    ("tensor_srht", 40, 16, 4000),
    ("gaussian_kron", 16, 8, 2000),
])
def test_unbiased(name, m, s, R):
    rng = np.random.default_rng(99)
    u, v = rng.standard_normal(m), rng.standard_normal(m)
    u2 = u + 0.8 * rng.standard_normal(m)
    v2 = v + 0.8 * rng.standard_normal(m)
    u[rng.random(m) < 0.3] = 0.0  # sparse-valued, as in a Jacobian
    U, V = np.vstack([u, u2]), np.vstack([v, v2])
    f = SKETCHES[name]
    cross = np.empty(R)
    square = np.empty(R)
    for r in range(R):
        Y = f(U, V, s, 10_000 + r)
        cross[r] = Y[0] @ Y[1]
        square[r] = Y[0] @ Y[0]
    for est, target in ((cross, (u @ u2) * (v @ v2)), (square, (u @ u) * (v @ v))):
        se = est.std(ddof=1) / math.sqrt(R)
        assert abs(target) > 4 * UNBIASED_SIGMAS * se, (name, target, se)  # the check has power
        assert abs(est.mean() - target) <= UNBIASED_SIGMAS * se, (name, est.mean(), target, se)


# ----------------------------------------------------------------- input checks

@pytest.mark.parametrize("name", SKETCHES)
def test_input_checks(name):
    f = SKETCHES[name]
    A = np.ones((3, 4))
    with pytest.raises(ValueError, match="U and V must have the same shape"):
        f(A, np.ones((3, 5)), 4, 0)
    with pytest.raises(ValueError, match="U and V must have the same shape"):
        f(A, np.ones((2, 4)), 4, 0)
    with pytest.raises(ValueError, match="^U: expected a 2-D"):
        f(np.ones(4), A, 4, 0)
    with pytest.raises(ValueError, match="^V: expected a 2-D"):
        f(A, np.ones((3, 4, 1)), 4, 0)
    for bad in (np.nan, np.inf, -np.inf):
        B = A.copy()
        B[1, 2] = bad
        with pytest.raises(ValueError, match="^U: contains NaN or infinite"):
            f(B, A, 4, 0)
        with pytest.raises(ValueError, match="^V: contains NaN or infinite"):
            f(A, B, 4, 0)
    with pytest.raises(ValueError, match="^U: expected real numbers"):
        f(A.astype(complex), A, 4, 0)
    for s in (0, -3, 2.5, True, "4"):
        with pytest.raises(ValueError, match="^s must be an integer >= 1"):
            f(A, A, s, 0)
    with pytest.raises(ValueError, match="m >= 1"):
        f(np.ones((3, 0)), np.ones((3, 0)), 4, 0)
    # integer-valued input of another dtype is accepted as float64
    np.testing.assert_array_equal(f(A.astype(np.int32), A, 4, 0), f(A, A, 4, 0))


def test_param_checks():
    for g in (tensorsketch_hashes, tensor_srht_params):
        with pytest.raises(ValueError, match="^m must be"):
            g(0, 0, 4)
        with pytest.raises(ValueError, match="^s must be"):
            g(0, 4, 0)


def test_gaussian_size_limit():
    A = np.ones((2, 16))
    with pytest.raises(ValueError, match=r"m = 16, s = 8"):
        gaussian_kron(A, A, 8, 0, max_entries=8 * 16 * 16 - 1)
    gaussian_kron(A, A, 8, 0, max_entries=8 * 16 * 16)  # at the limit: allowed
    with pytest.raises(ValueError, match=r"m = 1024, s = 512"):
        gaussian_kron(np.ones((1, 1024)), np.ones((1, 1024)), 512, 0)  # 2^29 > 2^28 by default
