"""The two-layer model of docs/theory.md §1 (seed 002 §2.3): the problem every solver starts from.

f(W, x) = (1/√m) Σ_r a_r σ_b(<w_r, x>),  σ_b(z) = max(z − b, 0),  a_r ∈ {±1} fixed,
w_r(0) ~ N(0, I_d), inputs unit-norm, loss L = ½‖f − y‖².

As a model (`network.kind = "two-layer"`, see models/__init__.py) this module gives the engine
what it needs without the engine knowing the network: `build` (the Problem from a scenario and its
data), `theory_constants` (b, λ, δ, R0, … from its paper's theory module, seed 002), `trace_data`
(the arrays a trace stores to say what ran), `initial_scales` (Lemma 4.2's quantities at W0) and
`memory_words` (what the problem itself holds, for the memory guard).
"""

import math
from dataclasses import dataclass, field

import numpy as np

from simulator.kernels import init_stream as _init
from simulator.kernels import jacobian as _jac
from simulator.kernels.fireset import gram_from_csr
from simulator.streams import STREAMS, streams  # noqa: F401  (re-export)

KIND = "two-layer"
PAPER = "seed002"  # the theory module whose checks apply (simulator/theory)


def sigma_b(z, b):
    """Shifted ReLU σ_b(z) = max(z − b, 0) (docs/theory.md §1 Decision)."""
    return np.maximum(np.asarray(z) - b, 0.0)


class InitialWeights:
    """W0 (m, d) and a (m,) as functions of two keys (kernels/init_stream.py, docs/theory.md §11): any row or
    sign regenerated exactly, by any code, in any order; nothing of size m is held unless `dense()` is asked.

    w_{r,j}(0) = normal(key_w, r·d + j) and a_r = sign(key_a, r): the one definition every solver uses, whether
    it holds W0 (the dense solvers, the trees: `dense()`) or streams it (the active-set index: `active_init`).
    """

    generator = _init.GENERATOR

    def __init__(self, key_w, key_a, m, d):
        self.key_w, self.key_a, self.m, self.d = int(key_w), int(key_a), int(m), int(d)
        self._gram = None
        # sum W0ᵀW0 (for ‖W0‖₂, Lemma 4.2) inside a streamed Init's pass instead of a second pass over W0:
        # the engine asks for it (it records ‖W0‖₂); the Init then also pays d² per neuron
        self.gram_at_init = False

    def rows(self, ids):
        """Rows ids of W0 (len(ids), d)."""
        return _init.w0_rows(self.key_w, ids, self.d)

    def signs(self, ids):
        """a_r for r in ids."""
        return _init.a_signs(self.key_a, ids)

    def dense(self):
        """All of W0 (m, d): 8·m·d bytes."""
        return _init.w0_dense(self.key_w, self.m, self.d)

    def all_signs(self):
        return self.signs(np.arange(self.m, dtype=np.int64))

    def active_init(self, X, b):
        """The streamed Init: (K_0, kptr, kpts, leaves, rows of W0, signs) of the neurons firing at t = 0 (and
        W0ᵀW0 kept for `gram()` when `gram_at_init`)."""
        want = self.gram_at_init and self._gram is None
        *out, G = _init.active_init(self.key_w, self.key_a, X, b, self.m, self.d, gram=want)
        if want:
            self._gram = G
        return tuple(out)

    def gram(self):
        """W0ᵀW0 (d, d), one streamed pass (the same sums whether or not W0 is held), cached."""
        if self._gram is None:
            self._gram = _init.w0_gram(self.key_w, self.m, self.d)
        return self._gram

    def attrs(self):
        """What a trace records to regenerate W0 and a (`simulator.models.two_layer.InitialWeights`)."""
        return {"init_generator": self.generator, "init_key_w": str(self.key_w), "init_key_a": str(self.key_a)}


@dataclass
class Problem:
    """Data, fixed output layer, initial weights and shift: everything a solver starts from.

    W0 and a are read from `init` on first use and then held (`W0`, `a`); a solver that never reads them
    (the active-set index) streams them instead, and `held` says which happened."""

    X: np.ndarray  # (n, d), unit rows
    y: np.ndarray  # (n,)
    init: InitialWeights  # W0 and a, by row
    b: float
    sketch_seed: int = 0  # root of the per-iteration sketch hashes
    XXt: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.X = np.ascontiguousarray(self.X, dtype=np.float64)
        self.y = np.ascontiguousarray(self.y, dtype=np.float64)
        self.b = float(self.b)
        if self.init.d != self.X.shape[1]:
            raise ValueError(f"init: W0 has {self.init.d} columns, X has {self.X.shape[1]}")
        XXt = self.X @ self.X.T
        self.XXt = 0.5 * (XXt + XXt.T)  # exactly symmetric, so every Gram built from it is too
        self._W0 = None
        self._a = None

    @property
    def W0(self):
        """W0 (m, d), materialised from `init` on first use (8·m·d bytes)."""
        if self._W0 is None:
            self._W0 = self.init.dense()
        return self._W0

    @property
    def a(self):
        """a (m,), materialised from `init` on first use."""
        if self._a is None:
            self._a = self.init.all_signs()
        return self._a

    @property
    def held(self):
        """Whether W0 has been materialised (False: this run streamed it)."""
        return self._W0 is not None

    def w0_rows(self, ids):
        """Rows ids of W0: from the held W0 if there is one, else regenerated (the same bits either way)."""
        ids = np.asarray(ids, dtype=np.int64)
        return self._W0[ids] if self._W0 is not None else self.init.rows(ids)

    def w0_dense(self):
        """A fresh copy of W0 (m, d), without holding it (a view's scratch)."""
        return self._W0.copy() if self._W0 is not None else self.init.dense()

    @property
    def n(self):
        return self.X.shape[0]

    @property
    def d(self):
        return self.X.shape[1]

    @property
    def m(self):
        return self.init.m

    @property
    def weight_entries(self):
        """Entries of the trained weights (W: m·d), for the trace's store-or-omit rule."""
        return self.m * self.d

    def gram(self, indptr, indices):
        """G_t = J_t J_tᵀ from the fire sets (CSR), exact: (X Xᵀ) ∘ (B Bᵀ)/m (docs/theory.md §1 identity)."""
        return gram_from_csr(indptr, indices, self.XXt, self.m)


def make_problem(X, y, m, b, rngs):
    """The keys of W0 and a from the `init` stream, the sketch root seed from the `sketch` stream."""
    init = rngs["init"]
    key_w, key_a = (int(k) for k in init.integers(0, 2**63, size=2))
    sketch_seed = int(rngs["sketch"].integers(0, 2**62))
    return Problem(X=X, y=y, init=InitialWeights(key_w, key_a, m, X.shape[1]), b=b, sketch_seed=sketch_seed)


class ImplicitWeights:
    """w_r(t) = w_r(0) + Σ_j c_{r,j} x_j, with c stored only for neurons that moved (docs/theory.md §6).

    Every Gauss-Newton or gradient step moves w_r inside span{x_j}, so the
    coefficients c_r ∈ R^n describe the weights exactly without storing W.
    Drift ‖w_r(t) − w_r(0)‖² = c_rᵀ (X Xᵀ) c_r.

    Row k of C belongs to neuron ids[k] (rows are given out in the order neurons first move). The map
    neuron → row (`row`, m entries) is built only when an index asks for it; the active-set index keeps
    each neuron's row beside it instead, so nothing here is O(m) for it. Rows of W0 come from
    `hold_rows` (the neurons that can ever move, when the index streamed W0) or from the problem.
    """

    def __init__(self, problem):
        self.problem = problem
        self.X = problem.X
        self.XXt = problem.XXt  # X Xᵀ, the problem's
        self.m = problem.m
        cap = max(1024, self.X.shape[0])
        self.C = np.zeros((cap, self.X.shape[0]))
        self.ids = np.full(cap, -1, dtype=np.int64)  # neuron of each row of C
        self.moved = 0  # number of rows of C in use
        self._row = None  # neuron -> row of C (−1: never moved), built on first use
        self._support = None  # (sorted neuron ids, their rows of W0) when held here

    def reserve(self, k):
        """Make room in C for k more moving neurons."""
        need = self.moved + k
        if need > self.C.shape[0]:
            cap = max(need, 2 * self.C.shape[0])
            grown = np.zeros((cap, self.C.shape[1]))
            grown[:self.moved] = self.C[:self.moved]
            ids = np.full(cap, -1, dtype=np.int64)
            ids[:self.moved] = self.ids[:self.moved]
            self.C, self.ids = grown, ids

    @property
    def row(self):
        """neuron → row of C, −1 if it never moved (m entries: built on first use, then kept in step)."""
        if self._row is None:
            self._row = np.full(self.m, -1, dtype=np.int64)
            self._row[self.ids[:self.moved]] = np.arange(self.moved)
        return self._row

    def rows_given(self, before):
        """Rows before … moved−1 were just given out (by a kernel that writes `ids`): keep `row` in step."""
        if self._row is not None and self.moved > before:
            self._row[self.ids[before:self.moved]] = np.arange(before, self.moved)

    def hold_rows(self, neurons, rows):
        """Keep rows of W0 for these neurons (ascending): the only ones that will ever be asked for."""
        self._support = (np.asarray(neurons, dtype=np.int64), np.asarray(rows, dtype=np.float64))

    def add_step(self, K, kptr, kpts, dcv):
        """c_r += dcv over F_r for r ∈ K, sparse (kernels/jacobian.py layout): O(nnz)."""
        self.reserve(K.shape[0])
        before = self.moved
        row = self.row
        self.moved = int(_jac.accumulate_coefficients(row, self.C, before, K, kptr, kpts, dcv))
        if self.moved > before:
            new = K[row[K] >= before]
            self.ids[row[new]] = new

    def coefficients(self, neurons):
        rows = self.row[neurons]
        out = np.zeros((neurons.shape[0], self.X.shape[0]))
        has = rows >= 0
        out[has] = self.C[rows[has]]
        return out

    def w0(self, neurons):
        """Rows of W0 for these neurons."""
        neurons = np.asarray(neurons, dtype=np.int64)
        if self._support is not None:
            ids, rows = self._support
            at = np.searchsorted(ids, neurons)
            if np.all(at < ids.shape[0]) and np.array_equal(ids[np.minimum(at, ids.shape[0] - 1)], neurons):
                return rows[at]
        return self.problem.w0_rows(neurons)

    def rows(self, neurons, coefficients=None):
        """Explicit w_r for the given neurons: O(|neurons|·n·d)."""
        c = self.coefficients(neurons) if coefficients is None else coefficients
        return self.w0(neurons) + c @ self.X

    def moved_neurons(self):
        """(ids ascending, their rows of C)."""
        ids = self.ids[:self.moved]
        order = np.argsort(ids)
        return ids[order], self.C[:self.moved][order]

    def dense(self):
        W = self.problem.w0_dense()
        ids, C = self.moved_neurons()
        W[ids] += C @ self.X
        return W

    def drift_moved(self, block=1 << 16):
        """(neurons that moved, ascending; their drift ‖w_r(t) − w_r(0)‖): every other neuron's drift is 0.
        Block by block over C's rows, so the temporaries stay O(block·n) at any number of moved neurons."""
        k = self.moved
        sq = np.empty(k)
        for lo in range(0, k, block):
            c = self.C[lo:min(k, lo + block)]
            sq[lo:lo + c.shape[0]] = np.einsum("ij,ij->i", c @ self.XXt, c)
        order = np.argsort(self.ids[:k])
        return self.ids[:k][order], np.sqrt(np.maximum(sq[order], 0.0))

    def drift(self):
        """‖w_r(t) − w_r(0)‖ for every neuron (0 for those that never moved): m entries."""
        out = np.zeros(self.m)
        ids, values = self.drift_moved()
        out[ids] = values
        return out


# -- the model seam (what the engine calls) --------------------------------------------------
def build(scenario, X, y, rngs):
    """The Problem of a resolved scenario on data (X, y): width, shift b and the init stream."""
    from simulator.config import resolve_b

    problem = make_problem(X, y, scenario.network.m, resolve_b(scenario.network), rngs)
    problem.init.gram_at_init = True  # initial_scales will want W0ᵀW0: a streamed Init sums it as it goes
    return problem


def theory_constants(problem, scenario):
    """The constants the checks need (b, λ of the exact NTK, δ, R0 = n/λ, ρ, ᾱ), from seed 002's theory."""
    from simulator.theory import seed002

    return seed002.constants(problem.X, problem.b, scenario.theory.rho, scenario.network.alpha_bar)


def trace_data(problem, scenario):
    """The arrays a trace stores under /data, and how to regenerate W0 and a (always; they are also stored
    while m·d ≤ output.store_W0_max). Nothing of size m is formed when they are not stored."""
    limit = scenario.output.store_W0_max
    init = problem.init
    regenerate = (f"W0 and a are rows of simulator.models.two_layer.InitialWeights(init_key_w, init_key_a, m, d) "
                  f"(generator {init.generator}; .rows(ids), .signs(ids)); its keys are drawn from the 'init' "
                  f"stream of seed {scenario.seed}")
    out = {"X": problem.X, "y": problem.y, "attrs": init.attrs(), "note": regenerate}
    if problem.m * problem.d <= limit:
        out.update(W0=problem.w0_dense(), a=problem.a if problem.held else init.all_signs())
    else:  # what write_data would record for an omitted W0, without drawing it
        out["attrs"] = {**init.attrs(), "W0_omitted": True, "W0_shape": [problem.m, problem.d], "W0_limit": int(limit),
                        "a_omitted": True}
    return out


def initial_scales(problem, f0):
    """Lemma 4.2's quantities at W0 (checked by `validate`): ‖W0‖₂/√m and max_i |f0(x_i)|. ‖W0‖₂² is the top
    eigenvalue of the d × d W0ᵀW0, summed in one streamed pass (the same bits whether W0 is held or not)."""
    if problem.d <= 2048:
        top = float(np.linalg.eigvalsh(problem.init.gram())[-1])
    else:  # a d × d Gram would not fit (d = 10⁵ is 75 GiB): the top singular value by Lanczos, O(md) memory
        from scipy.sparse.linalg import svds

        top = float(svds(problem.W0, k=1, return_singular_vectors=False, random_state=0)[0]) ** 2
    return {"W0_norm_over_sqrt_m": math.sqrt(max(top, 0.0) / problem.m),
            "f0_max_abs": float(np.max(np.abs(f0)))}


def memory_words(n, d, m, k=None):
    """8-byte words the problem and the engine hold at their peak, beside the solver's. Held W0 (k None): W0
    and a; the per-neuron metrics (drift, its sorted copy for the quantiles, marks). Streamed W0 (k = the
    expected |K_0|, for a solver that streams it): the k rows of W0 kept, their second copy while Init's
    chunks are joined (with the leaves), the metrics over the k neurons that can move (drift, ids, sort
    scratch, the flip candidates' margins) and Init's per-chunk scratch. Both: the n × n matrices (X Xᵀ, the
    data check, the exact NTK and its eigendecomposition); X."""
    fixed = 8 * n * n + 2 * n * d
    if k is None:
        return m * d + 5 * m + fixed
    from simulator.kernels.init_stream import CHUNK

    return k * d + k * (n + d) + 5 * k + n * k + min(m, CHUNK) + fixed


def expected_active(scenario):
    """The expected |K_0| = |∪_i S_i(0)|: each neuron fires on x_i with probability Q(b), so about
    m·(1 − (1 − Q(b))^n) neurons fire on some point (fewer when the points are correlated)."""
    from simulator.config import resolve_b

    n, m = scenario.data.n, scenario.network.m
    if n is None:
        return None
    q = 0.5 * math.erfc(resolve_b(scenario.network) / math.sqrt(2.0))
    return int(min(m, math.ceil(m * -math.expm1(n * math.log1p(-q)))))
