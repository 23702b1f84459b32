"""W0 and a from the counter-based generator (simulator/kernels/init_stream.py) against plain NumPy.

What is checked, and against what:
  * SplitMix64's mix against its published reference outputs; the ziggurat tables against an independent
    construction from the definition (tests/naive.py), against the geometry they must have (equal layer
    areas) and against NumPy's published tables (numpy/random/src/distributions/ziggurat_constants.h);
  * normals and signs entry by entry against tests/naive.py (first-try entries bit for bit, entries that
    need the wedge or tail to ~an ulp), with counters chosen so that every rejection path is exercised;
  * that a row of W0 is the same number whichever wrapper, order, subset, block size or thread count
    produces it;
  * statistical sanity of ~2^22 normals (moments, tail frequencies, Kolmogorov–Smirnov) with bounds
    derived below;
  * the streamed `active_init` against brute force on the materialised W0 (loop and BLAS paths), and its
    invariance to chunk size and thread count (including W0ᵀW0).

No expected number here comes from running the code under test: exact comparisons are against
independently computed references, and statistical bounds are derived from N(0, 1).
"""

import math

import numba
import numpy as np
import pytest
from scipy import stats

from naive import (
    GOLDEN,
    naive_active_init,
    naive_first_try,
    naive_normals,
    naive_signs,
    naive_splitmix_mix,
    naive_ziggurat_tables,
)
from simulator.kernels import init_stream as ist

KEY_W = 0x243F6A8885A308D3  # fixed keys (hex digits of pi): every test is deterministic
KEY_A = 0x13198A2E03707344
R = ist.ZIG_R
V = ist.ZIG_V


def _normals_at(key, counters):
    """The module's normals at arbitrary flat counters: with d = 1, row r of W0 is entry r of the stream."""
    return ist.w0_rows(key, np.asarray(counters, dtype=np.int64), 1)[:, 0]


def _unit_rows(n, d, seed):
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


# -- SplitMix64 and the tables -------------------------------------------------------
def test_naive_mix_matches_published_splitmix64():
    # SplitMix64 seeded with 0 outputs mix(γ), mix(2γ), …; these four words are the published reference
    # (Vigna's splitmix64.c, also the seeding of xoshiro). They anchor the naive mix, which the module is
    # then checked against through every normal and sign below.
    want = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC]
    with np.errstate(over="ignore"):
        z = np.arange(1, 5, dtype=np.uint64) * np.uint64(GOLDEN)
    assert [int(w) for w in naive_splitmix_mix(z)] == want


def test_tables_equal_naive():
    ki, wi, fi = ist.ziggurat_tables()
    nki, nwi, nfi = naive_ziggurat_tables()
    assert ki.dtype == np.uint64 and ki.shape == wi.shape == fi.shape == (256,)
    assert np.array_equal(ki, nki)
    # wi, fi: 1e-15 relative, a few ulps (both sides use libm exp/log; a different libm could move an ulp)
    np.testing.assert_allclose(wi, nwi, rtol=1e-15, atol=0)
    np.testing.assert_allclose(fi, nfi, rtol=1e-15, atol=0)
    # the tables the kernels actually use are these
    assert np.array_equal(ist._KI, nki)
    np.testing.assert_allclose(ist._WI, nwi, rtol=1e-15, atol=0)
    np.testing.assert_allclose(ist._FI, nfi, rtol=1e-15, atol=0)


def test_naive_tables_have_the_ziggurat_geometry():
    """The naive tables against the geometry, not the recursion: 256 layers of area v each."""
    ki, wi, fi = naive_ziggurat_tables()
    X = wi * 2.0 ** 52  # X_i for i >= 1
    assert X[255] == R and np.all(np.diff(X[1:]) > 0)
    np.testing.assert_allclose(fi[1:], np.exp(-X[1:] ** 2 / 2), rtol=1e-15)
    # layers 2 … 255: width X_i, height f(X_{i-1}) − f(X_i) = v/X_i. Each area is v up to the rounding of
    # a difference of two fi (≤ 1 ulp of fi[i-1] ≲ 1.1e-16 over a height ≥ ~6e-3: ≤ 2e-14 relative).
    np.testing.assert_allclose(X[2:] * (fi[1:-1] - fi[2:]), V, rtol=1e-12)
    # layer 1 (top): X_1 (1 − f(X_1)) = v only as well as v = 0.00492867323399 (12 digits) matches r: the
    # backward recursion amplifies that mismatch to ~1e-9 at the top (mpmath: 0.99999999901); 1e-8 allows it.
    np.testing.assert_allclose(X[1] * (1.0 - fi[1]), V, rtol=1e-8)
    # layer 0 (base strip with the tail): r f(r) + P(z > r)·√(2π) = v; that identity defines v from r, and
    # the 12-digit v matches it to ~3e-12 relative
    tail = stats.norm.sf(R) * math.sqrt(2 * math.pi)
    assert abs(R * math.exp(-R * R / 2) + tail - V) < 1e-10 * V
    # ki: the fraction of each layer's rectangle that lies wholly under the curve, as a 52-bit fraction
    assert ki[1] == 0
    assert abs(int(ki[0]) / 2.0 ** 52 - R * math.exp(-R * R / 2) / V) < 2.0 ** -51
    np.testing.assert_allclose(ki[2:].astype(float) / 2.0 ** 52, X[1:-1] / X[2:], rtol=0, atol=2.0 ** -51)


def test_tables_close_to_numpys_published_tables():
    # NumPy's ziggurat (same 256-layer layout) was tabulated with the v that r implies exactly, not
    # Marsaglia's 12-digit 0.00492867323399, so the tables agree only to ~1e-11 (base) … ~3e-10 (the top
    # layer, where the recursion amplifies the difference). rtol 1e-9 checks that this is the same
    # ziggurat, not bit-identical tables (they are not; see ziggurat_tables' docstring).
    ki, wi, fi = ist.ziggurat_tables()
    numpy_published = {  # index: (ki, wi, fi) from numpy/random/src/distributions/ziggurat_constants.h
        0: (0x000EF33D8025EF6A, 8.68362706080130616677e-16, 1.0),
        1: (0x0000000000000000, 4.77933017572773682428e-17, 9.77101701267671596263e-01),
        2: (0x000C08BE98FBC6A8, 6.35435241740526230246e-17, 9.59879091800106665211e-01),
        255: (0x000F1A5A4B331C4A, 8.11384933765648418565e-16, None),
    }
    for i, (k, w, f) in numpy_published.items():
        assert abs(int(ki[i]) - k) <= 1e-9 * max(k, 1)
        assert wi[i] == pytest.approx(w, rel=1e-9)
        if f is not None:
            assert fi[i] == pytest.approx(f, rel=1e-9)


# -- normals and signs entry by entry -------------------------------------------------
def _rejection_counters():
    """Counters whose first try the naive path rejects, from scans near 0 and near 2^40, sorted by path:
    tail (first idx = 0), wedge accepted on its second word, wedge rejected (a fresh try follows)."""
    scans = [np.arange(0, 1 << 17), np.arange((1 << 40) - (1 << 16), (1 << 40) + (1 << 16))]
    tail, wedge_ok, wedge_retry = [], [], []
    for c in scans:
        _, ok, idx = naive_first_try(KEY_W, c)
        rej = c[~ok]
        _, used = naive_normals(KEY_W, rej, return_words=True)
        first_idx = idx[~ok]
        tail.append(rej[first_idx == 0])
        wedge_ok.append(rej[(first_idx != 0) & (used == 2)])
        wedge_retry.append(rej[(first_idx != 0) & (used > 2)])
    return [np.concatenate(t) for t in (tail, wedge_ok, wedge_retry)]


def test_normals_equal_naive_including_every_rejection_path():
    tail, wedge_ok, wedge_retry = _rejection_counters()
    # the scans (2^18 counters, ~1.4 % rejected) must reach every path, or this test proves less than it says
    assert len(tail) >= 5 and len(wedge_ok) >= 100 and len(wedge_retry) >= 5
    counters = np.concatenate([
        np.arange(0, 1024),
        np.arange((1 << 40) - 512, (1 << 40) + 512),
        np.array([(1 << 62) + 12345, (1 << 63) - 1]),  # c·γ wraps mod 2^64 on both sides
        tail, wedge_ok[:1500], wedge_retry,
    ])
    got = _normals_at(KEY_W, counters)
    want = naive_normals(KEY_W, counters)
    _, first_ok, _ = naive_first_try(KEY_W, counters)
    # accepted on the first try: one product mag·wi[idx] of equal operands, so bit for bit
    assert np.array_equal(got[first_ok], want[first_ok])
    # the rest go through libm exp/log1p (Numba's vs CPython's), which may differ by an ulp; one or two
    # such operations per value keep the results within a few ulps: 1e-14 relative
    assert (~first_ok).sum() >= len(tail) + len(wedge_retry)
    np.testing.assert_allclose(got[~first_ok], want[~first_ok], rtol=1e-14, atol=0)
    # and the tail really produced values beyond r, with the wedge values inside
    z_tail = naive_normals(KEY_W, tail)
    assert np.all(np.abs(z_tail) > R)
    assert np.all(np.abs(naive_normals(KEY_W, wedge_ok)) < R)
    # the contiguous stream agrees with the per-counter one
    assert np.array_equal(ist.stream_normals(KEY_W, (1 << 40) - 512, 1024), got[1024:2048])


def test_normals_other_keys():
    # keys at the ends of the 64-bit range (key + c·γ wraps)
    c = np.arange(0, 3000)
    for key in (0, 1, (1 << 64) - 1, (1 << 63) + 7):
        got = ist.stream_normals(key, 0, c.size)
        want = naive_normals(key, c)
        _, ok, _ = naive_first_try(key, c)
        assert np.array_equal(got[ok], want[ok])
        np.testing.assert_allclose(got[~ok], want[~ok], rtol=1e-14, atol=0)  # as above
    assert not np.array_equal(ist.stream_normals(1, 0, 100), ist.stream_normals(2, 0, 100))


def test_signs_equal_naive_and_balanced():
    ids = np.concatenate([np.arange(0, 5000), np.arange((1 << 40) - 100, (1 << 40) + 100),
                          np.array([(1 << 63) - 1])])
    rng = np.random.default_rng(0)
    ids = ids[rng.permutation(ids.size)]  # any order
    a = ist.a_signs(KEY_A, ids)
    assert np.array_equal(a, naive_signs(KEY_A, ids))
    assert set(np.unique(a)) == {-1.0, 1.0}
    # balance over N = 2^20 signs: the sum of N fair ±1 has standard deviation √N; allow 6√N
    N = 1 << 20
    s = ist.a_signs(KEY_A, np.arange(N)).sum()
    assert abs(s) <= 6 * math.sqrt(N)
    # the signs of stream key_w are not W0's entries' signs (different key ⇒ different words)
    assert not np.array_equal(ist.a_signs(KEY_W, np.arange(64)), ist.a_signs(KEY_A, np.arange(64)))


# -- the same rows whichever way they are asked for ----------------------------------
def test_rows_identical_in_any_order_subset_block_and_wrapper():
    m, d = 3001, 7
    full = ist.w0_block(KEY_W, 0, m, d)
    assert full.shape == (m, d)
    rng = np.random.default_rng(1)
    perm = rng.permutation(m)
    assert np.array_equal(ist.w0_rows(KEY_W, perm, d), full[perm])
    sub = rng.choice(m, size=200, replace=False)
    assert np.array_equal(ist.w0_rows(KEY_W, sub, d), full[sub])
    rep = np.array([5, 5, 0, 3000, 5])  # repeats and ends
    assert np.array_equal(ist.w0_rows(KEY_W, rep, d), full[rep])
    for lo, hi in ((0, 1), (17, 1400), (2999, 3001), (100, 100)):
        assert np.array_equal(ist.w0_block(KEY_W, lo, hi, d), full[lo:hi])
    for block in (1, 100, 1024, 4096, ist.CHUNK):
        assert np.array_equal(ist.w0_dense(KEY_W, m, d, block=block), full)
    assert np.array_equal(ist.stream_normals(KEY_W, 0, m * d).reshape(m, d), full)
    # a row's entries are the stream's entries r·d … r·d + d − 1, straight from the naive reference too
    np.testing.assert_allclose(full[1234], naive_normals(KEY_W, 1234 * d + np.arange(d)), rtol=1e-14, atol=0)


def test_far_rows_equal_naive():
    # rows near m = 2^35 at d = 32: flat counters near 2^40
    d = 32
    ids = np.array([(1 << 35) - 1, 1 << 35, (1 << 35) + 12345])
    got = ist.w0_rows(KEY_W, ids, d)
    for q, r in enumerate(ids):
        c = int(r) * d + np.arange(d)
        want = naive_normals(KEY_W, c)
        _, ok, _ = naive_first_try(KEY_W, c)
        assert np.array_equal(got[q, ok], want[ok])
        np.testing.assert_allclose(got[q, ~ok], want[~ok], rtol=1e-14, atol=0)
    assert np.array_equal(ist.w0_block(KEY_W, (1 << 35) - 1, (1 << 35) + 1, d), got[:2])


def test_rows_identical_across_thread_counts():
    m, d = 20000, 5
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = (ist.w0_block(KEY_W, 0, m, d), ist.a_signs(KEY_A, np.arange(m)))
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = (ist.w0_block(KEY_W, 0, m, d), ist.a_signs(KEY_A, np.arange(m)))
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])


# -- statistics ----------------------------------------------------------------------------
def test_normal_statistics():
    """~2^22 normals of one fixed key (deterministic) against N(0, 1).

    For N i.i.d. draws the sample mean of g(z) has standard deviation √(Var g(z)/N); N = 2^22 gives
    √N = 2048. Bounds are 6 such standard deviations (a false alarm has probability ~2e-9 per bound,
    and since the key is fixed the outcome never changes from run to run):
      mean         Var z = 1                      6/2048            = 2.93e-3
      E z²  = 1    Var z² = E z⁴ − 1 = 2          6·√2/2048         = 4.14e-3
      E z⁴  = 3    Var z⁴ = E z⁸ − 9 = 105 − 9    6·√96/2048        = 2.87e-2
      P(|z| > 3) = p ≈ 2.70e-3,  Var = p(1 − p)  6·√(p(1−p))/2048  ≈ 1.5e-4
      P(z > r)   = q ≈ 1.29e-4,  Var = q(1 − q)  6·√(q(1−q))/2048  ≈ 3.3e-5 (the tail algorithm alone)
    The KS test gets threshold 1e-4: under N(0, 1) its p-value is uniform, so 1e-4 flags only a defect.
    """
    N = 1 << 22
    z = ist.stream_normals(KEY_W, 1 << 30, N)
    sd = 1 / math.sqrt(N)
    assert np.all(np.isfinite(z))
    assert abs(z.mean()) < 6 * sd
    z2 = z * z
    assert abs(z2.mean() - 1.0) < 6 * math.sqrt(2) * sd
    assert abs((z2 * z2).mean() - 3.0) < 6 * math.sqrt(96) * sd
    p = 2 * stats.norm.sf(3.0)
    assert abs(np.mean(np.abs(z) > 3.0) - p) < 6 * math.sqrt(p * (1 - p)) * sd
    q = stats.norm.sf(R)
    for tail_frac in (np.mean(z > R), np.mean(z < -R)):
        assert abs(tail_frac - q) < 6 * math.sqrt(q * (1 - q)) * sd
    assert stats.kstest(z, "norm").pvalue > 1e-4
    # the tail beyond r (~1100 values, all from the tail algorithm) against the normal conditioned on |z| > r:
    # F(t) = 1 − Q(t)/Q(r) for t = |z|; KS threshold 1e-4 as above
    t = np.abs(z[np.abs(z) > R])
    assert t.size > 500
    assert stats.kstest(t, lambda x: 1.0 - stats.norm.sf(x) / q).pvalue > 1e-4


# -- the streamed Init ---------------------------------------------------------------------
def _naive_from_stream(m, d, X, b):
    W0 = ist.w0_dense(KEY_W, m, d)
    a = ist.a_signs(KEY_A, np.arange(m))
    return W0, naive_active_init(W0, a, X, b)


CASES = [  # (m, d, n, b)
    (1 << 17, 32, 16, 3.0),           # |K| ~ 2 % of m, as at scale
    (3 * ist.SUB + 123, 8, 5, 2.0),   # m not a multiple of SUB
    (ist.SUB - 1, 16, 8, 1.0),        # fewer neurons than one sub-block
    (1000, 4, 1, 1.5),                # a single point
    (ist.SUB + 1, 16, 8, 1e3),        # nothing fires
]


@pytest.mark.parametrize("m,d,n,b", CASES)
def test_active_init_equals_naive(m, d, n, b):
    X = _unit_rows(n, d, seed=m + n)
    W0, (K, kptr, kpts, LK, WK, aK) = _naive_from_stream(m, d, X, b)
    # exact comparisons of u > b are well posed only if no leaf is within rounding of b (true for these
    # random data; checked rather than assumed)
    assert np.min(np.abs(W0 @ X.T - b)) > 1e-12
    gK, gkptr, gkpts, gLK, gWK, gaK, G = ist.active_init(KEY_W, KEY_A, X, b, m, d)
    assert G is None
    assert gK.dtype == gkptr.dtype == gkpts.dtype == np.int64
    assert np.array_equal(gK, K) and np.array_equal(gkptr, kptr) and np.array_equal(gkpts, kpts)
    assert gLK.shape == (len(K), n) and gWK.shape == (len(K), d) and gaK.shape == (len(K),)
    assert np.array_equal(gWK, WK) and np.array_equal(gaK, aK)
    # leaves: the module sums over j in order, BLAS in its own order; |Σ_j w_j x_j| error ≤ d·ε·Σ|w_j x_j|
    # ≤ 32 · 1.1e-16 · ‖w‖ (‖x‖ = 1, ‖w‖ ≲ 10) ≈ 4e-14: 1e-13 absolute
    np.testing.assert_allclose(gLK, LK, rtol=0, atol=1e-13)
    if b >= 1e3:
        assert len(gK) == 0 and np.array_equal(gkptr, [0])
    else:
        assert len(gK) > 0


def test_active_init_independent_of_chunk_and_threads():
    m, d, n, b = 10 * ist.SUB + 77, 16, 8, 2.5
    X = _unit_rows(n, d, seed=3)
    before = numba.get_num_threads()
    runs = []
    try:
        for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(threads)
            for chunk in (ist.SUB, 3 * ist.SUB, 5000, ist.CHUNK):  # 5000 rounds down to whole sub-blocks
                runs.append(ist.active_init(KEY_W, KEY_A, X, b, m, d, chunk=chunk, gram=True))
    finally:
        numba.set_num_threads(before)
    ref = runs[0]
    assert len(ref[0]) > 0
    for run in runs[1:]:
        for x, y in zip(ref, run):
            assert x.dtype == y.dtype and np.array_equal(x, y)
    # gram=False gives the same index
    plain = ist.active_init(KEY_W, KEY_A, X, b, m, d, chunk=3 * ist.SUB)
    assert plain[-1] is None
    for x, y in zip(ref[:6], plain[:6]):
        assert np.array_equal(x, y)
    # G: the same sums as w0_gram, exactly symmetric, and W0ᵀW0 up to rounding. The fixed-order sum runs over
    # ≤ SUB + m/SUB terms, each entry's error ≤ (SUB + m/SUB)·ε·Σ_r|w_rj w_rk| ≤ ~4200 · 1.1e-16 · m (Cauchy–
    # Schwarz against the diagonal, ~m): ≤ 5e-13 of max|G| in the worst case, so 1e-12 relative to max|G|
    G = ref[-1]
    assert np.array_equal(G, ist.w0_gram(KEY_W, m, d))
    assert np.array_equal(G, ist.w0_gram(KEY_W, m, d, chunk=ist.SUB))
    assert np.array_equal(G, G.T)
    W0 = ist.w0_dense(KEY_W, m, d)
    full = W0.T @ W0
    assert np.max(np.abs(G - full)) <= 1e-12 * np.max(np.abs(full))


@pytest.mark.parametrize("m, n, d", [(3 * ist.SUB + 123, 64, 64), (2 * ist.SUB + 1, 300, 40)])
def test_active_init_on_the_blas_path_is_the_brute_force(m, n, d):
    """n·d ≥ BLAS_LEAVES: the leaves come from one BLAS product per block of rows. The same K_0, fire sets, rows and
    signs as brute force; leaves to round-off (a BLAS product's last bits depend on its block of rows, which is
    fixed by n and d, so within a problem every run agrees); W0ᵀW0 bit-equal to the loop path's `w0_gram`."""
    assert n * d >= ist.BLAS_LEAVES
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    b = 2.2
    W0 = ist.w0_dense(5, m, d)
    a = ist.a_signs(6, np.arange(m))
    assert np.min(np.abs(W0 @ X.T - b)) > 1e-12  # no leaf within round-off of b: the fire sets are well posed
    want = naive_active_init(W0, a, X, b)
    runs = [ist.active_init(5, 6, X, b, m, d, chunk=c, gram=True) for c in (ist.SUB, 3 * ist.SUB, ist.CHUNK)]
    for got in runs:
        for name, x, y in zip(("K", "kptr", "kpts"), got[:3], want[:3]):
            assert np.array_equal(x, y), name
        assert np.max(np.abs(got[3] - want[3])) <= 1e-13  # |leaf| ≤ ‖w‖ ≈ √d, summed in a different order
        assert np.array_equal(got[4], want[4]) and np.array_equal(got[5], want[5])
        assert np.array_equal(got[6], ist.w0_gram(5, m, d))


@pytest.mark.parametrize("m, n, d", [(3 * ist.SUB + 123, 8, 16), (2 * ist.SUB + 1, 300, 40)])
def test_active_init_from_a_held_w0_is_the_streamed_one(m, n, d):
    """A caller that holds W0 passes it and its rows are read instead of generated (loop and BLAS paths): every
    output the same bits as the streamed Init's, W0ᵀW0 included."""
    X = _unit_rows(n, d, seed=n + d)
    b = 1.5 if n < 100 else 2.2
    W0 = ist.w0_dense(KEY_W, m, d)
    streamed = ist.active_init(KEY_W, KEY_A, X, b, m, d, chunk=ist.SUB, gram=True)
    held = ist.active_init(KEY_W, KEY_A, X, b, m, d, chunk=ist.SUB, gram=True, W0=W0)
    assert len(streamed[0]) > 0
    for x, y in zip(streamed, held):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    # b equal to a neuron's largest leaf (the in-order sum): it is a candidate of the held path's BLAS filter
    # (its leaf is within the margin of b) but fires nowhere, so it is dropped, as the streamed pass does
    LK = streamed[3]
    top = np.sort(LK, axis=1)
    q = int(np.argmax(top[:, -1] - top[:, -2]))
    b_eq = float(top[q, -1])
    at_b = [ist.active_init(KEY_W, KEY_A, X, b_eq, m, d, W0=w) for w in (None, W0)]
    assert streamed[0][q] not in at_b[0][0]
    for x, y in zip(*at_b):
        assert (x is None and y is None) or (x.dtype == y.dtype and np.array_equal(x, y))
    # the rows really are read from W0: a changed row changes that neuron's leaves
    W1 = W0.copy()
    r = int(streamed[0][0])
    W1[r] = 0.0
    K1 = ist.active_init(KEY_W, KEY_A, X, b, m, d, W0=W1)[0]
    assert r not in K1


def test_active_init_refuses_a_w0_of_the_wrong_shape():
    X = _unit_rows(4, 8, seed=1)
    with pytest.raises(ValueError, match="W0"):
        ist.active_init(KEY_W, KEY_A, X, 1.0, 100, 8, W0=np.zeros((99, 8)))
    with pytest.raises(ValueError, match="W0"):
        ist.active_init(KEY_W, KEY_A, X, 1.0, 100, 8, W0=np.zeros((100, 8), dtype=np.float32))


@pytest.mark.parametrize("d", [1, 5, 7, 33])
def test_w0_gram_exactly_symmetric_at_odd_widths(d):
    """W0ᵀW0's block sums fuse multiply-adds (their own kernel): the vectorised and the remainder columns of an odd
    d must fuse alike, or G would not be exactly symmetric; and it is W0ᵀW0 up to rounding."""
    m = 3 * ist.SUB + 5
    G = ist.w0_gram(KEY_W, m, d)
    assert np.array_equal(G, G.T)
    W0 = ist.w0_dense(KEY_W, m, d)
    full = W0.T @ W0
    assert np.max(np.abs(G - full)) <= 1e-12 * np.max(np.abs(full))
