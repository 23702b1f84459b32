"""Tests for simulator.kernels.sketch against plain-NumPy / plain-Python references.

Seed 002, Algorithm 5 lines 15-21 (B = S·Jᵀ column by column), Def. 2.1
(subspace-embedding distortion), Def. 5.2 (sketch size).
"""

import math

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings, strategies as st

from simulator.kernels.sketch import (
    default_sketch_rows,
    dense_jt,
    fwht,
    gaussian_sketch,
    osnap_entry,
    osnap_matrix,
    sketch_jt,
    sketch_jt_work,
    srht_apply,
    subspace_distortion,
    subspace_distortion_gram,
)

from naive import naive_dense_jt, naive_entry, naive_osnap_matrix, naive_sketch_jt


# ---------------------------------------------------------------- problems

def random_problem(m, d, n, rng, p=0.5, empty=()):
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1)[:, None]
    a = rng.choice([-1.0, 1.0], size=m)
    sets = []
    for i in range(n):
        mask = rng.random(m) < p
        if i in empty:
            mask[:] = False
        sets.append(np.flatnonzero(mask))
    indptr = np.zeros(n + 1, np.int64)
    indptr[1:] = np.cumsum([len(x) for x in sets])
    indices = np.concatenate(sets + [np.zeros(0, np.int64)]).astype(np.int64)
    return indptr, indices, a, X


def threshold_problem(m, d, n, seed):
    """Fire sets as in the solver: S_i = {r : <w_r, x_i> > b}, b = √(0.48 ln m)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1)[:, None]
    W = rng.standard_normal((m, d))
    a = rng.choice([-1.0, 1.0], size=m)
    F = (X @ W.T) > math.sqrt(0.48 * math.log(m))
    indptr = np.zeros(n + 1, np.int64)
    indptr[1:] = np.cumsum(F.sum(axis=1))
    indices = np.nonzero(F)[1].astype(np.int64)
    return indptr, indices, a, X


# ---------------------------------------------------------------- hash / S

def test_hash_matches_python_reference():
    for (seed, r, c, k, d, s, nnz) in [(0, 0, 0, 0, 1, 1, 1), (7, 5, 2, 3, 8, 13, 4),
                                       (2**63 + 5, 1000, 31, 1, 32, 1000, 2),
                                       (-3, 2**20 - 1, 0, 0, 32, 15112, 1)]:
        assert osnap_entry(seed, r, c, k, d, s, nnz) == naive_entry(seed, r, c, k, d, s, nnz)


@pytest.mark.parametrize("m,d,s,nnz", [(7, 3, 12, 4), (5, 2, 11, 4), (4, 8, 9, 2),
                                       (3, 1, 5, 1), (2, 2, 4, 4)])
def test_osnap_matrix_matches_naive_and_structure(m, d, s, nnz):
    S = osnap_matrix(m, d, s, nnz, seed=11)
    np.testing.assert_array_equal(S, naive_osnap_matrix(m, d, s, nnz, 11))
    bounds = [k * s // nnz for k in range(nnz + 1)]
    for j in range(m * d):
        col = S[:, j]
        nz = np.flatnonzero(col)
        assert len(nz) == nnz
        np.testing.assert_allclose(np.abs(col[nz]), 1.0 / math.sqrt(nnz), rtol=0, atol=0)
        # exactly one nonzero in each block [bounds[k], bounds[k+1])
        assert [np.sum((nz >= bounds[k]) & (nz < bounds[k + 1])) for k in range(nnz)] == [1] * nnz


def test_hash_rows_and_signs_are_balanced():
    # CountSketch rows uniform over [0, s), signs fair: loose 5-sigma checks.
    s, d = 16, 4
    S = osnap_matrix(1000, d, s, 1, seed=3)
    rows = np.argmax(S != 0, axis=0)
    counts = np.bincount(rows, minlength=s)
    expect = S.shape[1] / s
    assert np.all(np.abs(counts - expect) < 5 * math.sqrt(expect))
    signs = S.sum(axis=0)
    assert abs(signs.sum()) < 5 * math.sqrt(S.shape[1])


# ---------------------------------------------------------------- A = Jᵀ

def test_dense_jt_matches_naive_and_gram_identity():
    rng = np.random.default_rng(0)
    for (m, d, n) in [(1, 1, 1), (7, 3, 5), (64, 8, 5), (30, 4, 9)]:
        indptr, indices, a, X = random_problem(m, d, n, rng, empty=(1,))
        A = dense_jt(indptr, indices, a, X, m)
        np.testing.assert_allclose(A, naive_dense_jt(indptr, indices, a, X, m), rtol=0, atol=1e-15)
        Binc = np.zeros((n, m))
        for i in range(n):
            Binc[i, indices[indptr[i]:indptr[i + 1]]] = 1.0
        G = (X @ X.T) * (Binc @ Binc.T) / m
        np.testing.assert_allclose(A.T @ A, G, rtol=0, atol=1e-14)


# ---------------------------------------------------------------- sketch_jt

@pytest.mark.parametrize("nnz", [1, 2, 4])
@pytest.mark.parametrize("m", [1, 2, 7, 64])
def test_sketch_jt_equals_dense_product(m, nnz):
    rng = np.random.default_rng(100 * m + nnz)
    for d in (1, 3, 8):
        for n in (1, 2, 5):
            indptr, indices, a, X = random_problem(m, d, n, rng, empty=(0,) if n > 1 else ())
            for s in (nnz, 3 * nnz + 1):  # equal and unequal blocks
                seed = int(rng.integers(2**62))
                B = sketch_jt(indptr, indices, a, X, m, s, nnz, seed)
                Bp = sketch_jt(indptr, indices, a, X, m, s, nnz, seed, parallel=True)
                assert B.shape == (s, n) and B.dtype == np.float64
                ref = osnap_matrix(m, d, s, nnz, seed) @ dense_jt(indptr, indices, a, X, m)
                np.testing.assert_allclose(B, ref, rtol=0, atol=1e-12)
                np.testing.assert_array_equal(B, Bp)
                # a_r per fire pair from the caller: the same sketch, bit for bit
                np.testing.assert_array_equal(B, sketch_jt(indptr, indices, a, X, m, s, nnz, seed,
                                                           a_pairs=a[indices]))
                if m <= 7:
                    np.testing.assert_allclose(
                        B, naive_sketch_jt(indptr, indices, a, X, m, s, nnz, seed),
                        rtol=0, atol=1e-12)
                if n > 1:
                    assert not B[:, 0].any()  # empty fire set -> zero column


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 20), d=st.integers(1, 5), n=st.integers(1, 6),
       nnz=st.integers(1, 4), extra=st.integers(0, 9), seed=st.integers(0, 2**64 - 1),
       pseed=st.integers(0, 2**32 - 1), p=st.floats(0.0, 1.0))
def test_sketch_jt_property(m, d, n, nnz, extra, seed, pseed, p):
    rng = np.random.default_rng(pseed)
    indptr, indices, a, X = random_problem(m, d, n, rng, p=p)
    s = nnz + extra
    B = sketch_jt(indptr, indices, a, X, m, s, nnz, seed)
    np.testing.assert_allclose(B, naive_sketch_jt(indptr, indices, a, X, m, s, nnz, seed),
                               rtol=0, atol=1e-12)


def test_sketch_jt_determinism_and_seed_dependence():
    rng = np.random.default_rng(5)
    indptr, indices, a, X = random_problem(64, 8, 5, rng)
    B1 = sketch_jt(indptr, indices, a, X, 64, 40, 2, seed=123)
    B2 = sketch_jt(indptr, indices, a, X, 64, 40, 2, seed=123)
    B3 = sketch_jt(indptr, indices, a, X, 64, 40, 2, seed=124)
    np.testing.assert_array_equal(B1, B2)
    assert np.abs(B1 - B3).max() > 1e-3
    np.testing.assert_array_equal(osnap_matrix(64, 8, 40, 2, 123), osnap_matrix(64, 8, 40, 2, 123))
    assert (osnap_matrix(64, 8, 40, 2, 123) != osnap_matrix(64, 8, 40, 2, 124)).any()


def test_sketch_jt_work_and_validation():
    rng = np.random.default_rng(1)
    indptr, indices, a, X = random_problem(10, 3, 4, rng)
    assert sketch_jt_work(indptr, 3, 4) == len(indices) * 3 * 4
    with pytest.raises(ValueError):
        sketch_jt(indptr, indices, a, X, 10, 3, 4, 0)  # s < nnz
    with pytest.raises(ValueError):
        sketch_jt(indptr[:-1], indices, a, X, 10, 8, 1, 0)  # wrong indptr length
    with pytest.raises(ValueError, match="a_pairs"):
        sketch_jt(indptr, indices, a, X, 10, 8, 1, 0, a_pairs=np.ones(len(indices) + 1))  # not one per pair
    bad = indices.copy()
    bad[0] = 10
    with pytest.raises(ValueError):
        sketch_jt(indptr, bad, a, X, 10, 8, 1, 0)  # neuron id out of range
    with pytest.raises(ValueError):
        sketch_jt(indptr, indices, a[:-1], X, 10, 8, 1, 0)


# ---------------------------------------------------------------- FWHT / SRHT / Gaussian

def test_fwht_matches_scipy_hadamard():
    rng = np.random.default_rng(2)
    for N in (1, 2, 4, 8, 64, 256):
        H = scipy.linalg.hadamard(N).astype(float)
        M = rng.standard_normal((N, 3))
        np.testing.assert_allclose(fwht(M), H @ M, rtol=0, atol=1e-11)
        v = rng.standard_normal(N)
        np.testing.assert_allclose(fwht(v), H @ v, rtol=0, atol=1e-11)
    with pytest.raises(ValueError):
        fwht(np.ones(6))


@pytest.mark.parametrize("N,s", [(5, 3), (8, 8), (13, 40)])
def test_srht_matches_explicit_matrix(N, s):
    M = np.random.default_rng(3).standard_normal((N, 2))
    out = srht_apply(M, s, np.random.default_rng(9))
    rng = np.random.default_rng(9)  # replay the same draws
    Np = 1 << (N - 1).bit_length()
    signs = rng.choice(np.array([-1.0, 1.0]), size=N)
    rows = rng.choice(Np, size=s, replace=s > Np)
    H = scipy.linalg.hadamard(Np)[:, :N]
    S = math.sqrt(Np / s) * (H[rows] / math.sqrt(Np)) * signs
    np.testing.assert_allclose(out, S @ M, rtol=0, atol=1e-12)


def test_gaussian_sketch_scale():
    G = gaussian_sketch(400, 300, np.random.default_rng(4))
    assert G.shape == (400, 300)
    # column norms² ≈ 1 (E = 1, sd = √(2/400) ≈ 0.07)
    assert abs(np.mean(np.sum(G**2, axis=0)) - 1) < 0.02


# ---------------------------------------------------------------- distortion

def test_subspace_distortion_known_values():
    assert subspace_distortion(np.diag([1.0, 1.1, 0.9])) == pytest.approx(0.21)
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((20, 4)))[0]
    assert subspace_distortion(Q) < 1e-14
    assert subspace_distortion(np.zeros((2, 3))) == pytest.approx(1.0)  # s < k


def test_default_sketch_rows_formula():
    for n in (1, 2, 16, 64):
        for nnz in (1, 3, 4):
            s = default_sketch_rows(n, 0.1, nnz)
            base = math.ceil(((math.sqrt(n) + 2.0) / (math.sqrt(1.1) - 1.0)) ** 2)
            assert s % nnz == 0 and base <= s < base + nnz
    assert default_sketch_rows(16, 0.1, 1, const=2.0) > default_sketch_rows(16, 0.1, 1)
    assert default_sketch_rows(32) > default_sketch_rows(16)


@pytest.fixture(scope="module")
def solver_shape():
    """Problem shaped like the solver's: m = 4096, d = 16, n = 16."""
    m, d, n = 4096, 16, 16
    indptr, indices, a, X = threshold_problem(m, d, n, seed=2024)
    A = dense_jt(indptr, indices, a, X, m)
    Q, R = np.linalg.qr(A)
    assert np.linalg.matrix_rank(A) == n
    return m, d, n, indptr, indices, a, X, A, Q, R


@pytest.mark.parametrize("nnz", [1, 4])
def test_distortion_osnap_countsketch_default_size(solver_shape, nnz):
    m, d, n, indptr, indices, a, X, A, Q, R = solver_shape
    s = default_sketch_rows(n, 0.1, nnz)
    G = A.T @ A
    for seed in range(5):
        B = sketch_jt(indptr, indices, a, X, m, s, nnz, seed)
        # S·U = S·A·R⁻¹ with U = Q = A R⁻¹ (no dense S at md = 65536 columns)
        eps = subspace_distortion(scipy.linalg.solve_triangular(R, B.T, trans="T").T)
        assert eps < 0.1, (nnz, seed, eps)
        assert subspace_distortion_gram(B, G) == pytest.approx(eps, abs=1e-9)


def test_distortion_fails_when_sketch_too_small(solver_shape):
    # the check above can fail: s = 4n rows is far from a 0.1-embedding
    m, d, n, indptr, indices, a, X, A, Q, R = solver_shape
    B = sketch_jt(indptr, indices, a, X, m, 4 * n, 1, seed=0)
    assert subspace_distortion(scipy.linalg.solve_triangular(R, B.T, trans="T").T) > 0.3


def test_distortion_srht_and_gaussian(solver_shape):
    m, d, n, indptr, indices, a, X, A, Q, R = solver_shape
    s = default_sketch_rows(n, 0.1, 1)
    rng = np.random.default_rng(77)
    for _ in range(3):
        assert subspace_distortion(srht_apply(Q, s, rng)) < 0.1
    # Gaussian: dense s × md matrix, so a smaller problem (m = 64, d = 8)
    indptr, indices, a, X = threshold_problem(64, 8, n, seed=7)
    A = dense_jt(indptr, indices, a, X, 64)
    U, sv, _ = np.linalg.svd(A, full_matrices=False)
    U = U[:, sv > 1e-10 * sv[0]]
    for _ in range(2):
        assert subspace_distortion(gaussian_sketch(s, 64 * 8, rng) @ U) < 0.1


def test_parallel_sketch_is_the_same_bits():
    # the solver turns threads on for large sketches: each column is still summed by one thread in order
    rng = np.random.default_rng(11)
    m, n, d = 5000, 6, 8
    X = rng.standard_normal((n, d))
    a = np.sign(rng.standard_normal(m))
    sets = [np.sort(rng.choice(m, int(rng.integers(1, 900)), replace=False)) for _ in range(n)]
    indptr = np.concatenate([[0], np.cumsum([len(q) for q in sets])])
    indices = np.concatenate(sets)
    for nnz in (1, 4):
        serial = sketch_jt(indptr, indices, a, X, m, 301, nnz, 5, parallel=False)
        assert np.array_equal(serial, sketch_jt(indptr, indices, a, X, m, 301, nnz, 5, parallel=True))
