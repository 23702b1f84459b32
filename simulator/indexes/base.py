"""The fire-set index interface: what a training step needs to know about S_i(t).

An index owns the leaves u_{r,i} = <w_r(t), x_i> (in whatever layout it likes) and the structure
that finds the fire sets S_i(t) = {r : u_{r,i} > b} (strict `>`, docs/theory.md §1). A step asks it for

- `query()` → `FireSets`: K = ∪_i S_i with each neuron's points (neuron-major CSR), a_r/√m aligned
  with K, f_t from fire sets and leaves only, the fire counts, and on request the point-major CSR;
- `apply_step(fs, g)`: W_{t+1} = W_t − J_tᵀ g_t on the neurons of K (in the implicit weights it
  was given, docs/theory.md §6) and their leaves refreshed, by inner products (O(nd) per neuron) or through
  X Xᵀ (d-free, docs/theory.md §6) as `leaf_update` says;
- `work()`: running totals of its cost counters (e.g. tree nodes touched), so a step reports the
  difference as counts that do not depend on the machine;
- `query_ops(fs, work)` and `update_ops(k, nnz, work)`: the operations of the query and update phases
  just run, as terms of the table in indexes/ops.py (docs/theory.md §10), from sizes and the
  phase's change of `work()`; computed after the phase, never timed;
- views for metrics (outside the timed step): `fire_sets()` (sorted CSR), `leaves()`, `predictions()`, and
  `neuron_major()` when the index keeps the fire sets by neuron (then the Gram is read off them directly).

Every step direction (exact Gram, sketched regression, gradient) moves the weights as W − Jᵀg, so
any index serves any direction; `solvers/sublinear.py` combines one of each.
"""

import math
from dataclasses import dataclass

import numpy as np

from simulator.indexes import ops
from simulator.kernels import jacobian as _jac


@dataclass
class FireSets:
    """The fire sets of one iteration, in the views a step uses (kernels/jacobian.py layout)."""

    K: np.ndarray  # ∪_i S_i, neuron ids
    kptr: np.ndarray  # neuron-major CSR: F_r = kpts[kptr[q]:kptr[q+1]] for r = K[q]
    kpts: np.ndarray
    aK: np.ndarray  # a_r/√m aligned with K
    f: np.ndarray  # f_t (n,), from fire sets and leaves
    counts: np.ndarray  # |S_i(t)| (n,)
    indptr: np.ndarray | None = None  # point-major CSR, when asked for (a sketch reads it)
    indices: np.ndarray | None = None
    at: np.ndarray | None = None  # where K lies in the index's own structure (the tree: leaf slots), if it says
    a_pairs: np.ndarray | None = None  # a_r for each pair of the point-major CSR (aligned with indices), if at hand

    @property
    def nnz(self):
        """Σ_i |S_i(t)|: the nonzero blocks of J_t."""
        return int(self.kpts.shape[0])


class Index:
    """Base class: subclasses set `name` and `counters` and implement the hooks."""

    name = ""
    counters: tuple = ()  # the cost counters `work()` reports (trace metrics of the same name)
    approximate = False  # True: its fire sets may differ from the exact ones (the run is not exact)

    def __init__(self, problem, weights, options):
        self.problem = problem
        self.W = weights  # ImplicitWeights, shared with the solver (it is the solver's state)
        self.options = options  # the solver's options; an index reads its own (e.g. leaf_update)
        self.leaf_update = options.get("leaf_update", "inner-product")  # "inner-product" | "gram"

    @classmethod
    def memory_words(cls, n, d, m, k=None):
        """8-byte words the index holds at its peak, for the engine's memory guard; k: the expected
        number of neurons that fire on some point at t = 0, |K_0| (None: m)."""
        raise NotImplementedError

    def build(self):
        """Init: the leaves of W0 and the structure over them."""
        raise NotImplementedError

    def query(self, point_major=False):
        """The fire sets at b as `FireSets`; `point_major` also fills indptr/indices."""
        raise NotImplementedError

    def apply_step(self, fs, g):
        """W ← W − J_tᵀ g on the neurons of K, and their leaves refreshed (docs/theory.md §4 step 3, §6)."""
        p = self.problem
        dcv = _jac.step_coefficients(fs.kptr, fs.kpts, fs.aK, g)
        self.W.add_step(fs.K, fs.kptr, fs.kpts, dcv)
        if self.leaf_update == "gram":  # u_{r,i} += Σ_j Δc_{r,j} <x_j, x_i>: no d (docs/theory.md §6)
            self._shift_leaves(fs, _jac.leaf_deltas(fs.kptr, fs.kpts, dcv, p.XXt))
        else:  # u_{r,i} = <w_r(t+1), x_i>, O(nd) per neuron
            rows = self.W.leaves(fs.K, by_point=self.leaves_by_point, held_at=self._positions_in_held_rows(fs))
            self._set_leaves(fs, rows)

    #: whether `_set_leaves` takes the new leaves point-major, (n, |K|), instead of (|K|, n)
    leaves_by_point = False

    def _positions_in_held_rows(self, fs):
        """Where fs.K's rows of W0 are among those the index gave `W.hold_rows`, if it knows (None: searched)."""
        return None

    def _set_leaves(self, fs, rows):
        """Neurons fs.K get leaves rows (|K|, n), or (n, |K|) when `leaves_by_point`."""
        raise NotImplementedError

    def _shift_leaves(self, fs, deltas):
        """Leaves of neurons fs.K change by deltas (|K|, n)."""
        raise NotImplementedError

    def work(self):
        """Running totals of the cost counters, {name: int}."""
        return {}

    # operation counts (indexes/ops.py, Table B); called after the phase, outside the timing ----------
    def query_ops(self, fs, work):
        """The query phase's operations as {term: count}: fs its fire sets, work its change of `work()`.
        Called right after the query (before the step changes the index)."""
        raise NotImplementedError

    def update_ops(self, k, nnz, work):
        """The update phase's operations as {term: count}: k = |K| and nnz = Σ_i |S_i| of the step (read
        before `apply_step`, which may compact K), work the phase's change of `work()`.

        This base covers `Index.apply_step`: the step's coefficients, then the leaves of K refreshed by
        inner products (explicit rows, then n inner products each) or d-free (deltas through X Xᵀ, added);
        a subclass adds what its structure does with the new leaves."""
        n, d = self.problem.n, self.problem.d
        terms = {"coefficients": ops.coefficients(nnz)}
        if self.leaf_update == "gram":
            terms.update(leaf_deltas=ops.leaf_deltas(nnz, n), leaf_shift=ops.leaf_shift(k, n))
        else:
            terms.update(rows_explicit=ops.rows_explicit(k, n, d), leaves_ip=ops.leaves_ip(k, n, d))
        return terms

    def audit(self, fs):
        """Untimed diagnostics of this step's fire sets fs, {counter: value} (an approximate index
        says here how far fs is from the exact fire sets; exact indexes have nothing to say)."""
        return {}

    audits: tuple = ()  # the counters `audit` reports

    # views (metrics; not timed) ---------------------------------------------
    def fire_sets(self):
        """S_i(t) as CSR (indptr, indices), ascending neuron ids per point."""
        raise NotImplementedError

    def leaves(self):
        """U_t (n, m), U[i, r] = <w_r(t), x_i>."""
        raise NotImplementedError

    def predictions(self):
        """f_t from fire sets and leaves."""
        return self.query().f

    def neuron_major(self):
        """(kptr, kpts): each neuron's points, the neurons of K_t ascending, if the index keeps the fire sets
        that way between steps (the Gram is then O(Σ_r |F_r|²)); None if it would have to derive them."""
        return None


class PointMajorIndex(Index):
    """An index whose structure yields point-major fire sets over an (m, n) leaf array.

    The step's neuron-major view is derived each iteration (`by_neuron`, with an O(m) scratch
    that is all −1 between calls, so nothing per step costs O(m)).
    """

    sorted_K = False  # whether the index wants K ascending (the tree's batched update does)

    def _after_build(self):
        p = self.problem
        self._mark = np.full(p.m, -1, dtype=np.int64)

    def _csr(self, sort):
        raise NotImplementedError

    def query(self, point_major=False):
        indptr, indices = self._csr(sort=False)
        return self._fire_sets(indptr, indices, self._forward(indptr, indices))

    def _fire_sets(self, indptr, indices, f):
        """FireSets from point-major fire sets and f: K and its neuron-major view by `by_neuron`."""
        p = self.problem
        K, kptr, kpts = _jac.by_neuron(indptr, indices, self._mark, self.sorted_K)
        return FireSets(K, kptr, kpts, p.a[K] / math.sqrt(p.m), f, np.diff(indptr), indptr, indices)

    def _forward(self, indptr, indices):
        """f_t from fire sets and the stored leaves."""
        return _jac.forward(indptr, indices, self._LT, self.problem.a, self.problem.b)

    def _structure_query_ops(self, fs, work):
        """Operations of finding the point-major fire sets (the structure's part of the query)."""
        raise NotImplementedError

    def _by_neuron_span(self):
        """The span of the ids `by_neuron` receives when K is collected by a scan (0: by a sort or none)."""
        return 0

    def _forward_ops(self, nnz):
        return ops.forward(nnz)

    def query_ops(self, fs, work):
        """The structure's terms, then K and the neuron-major view (`by_neuron`), a_r/√m and the fire
        counts, and f_t."""
        n, k = self.problem.n, int(fs.K.shape[0])
        terms = self._structure_query_ops(fs, work)
        terms.update(by_neuron=ops.by_neuron(fs.nnz, k, self.sorted_K, self._by_neuron_span()),
                     fire_views=ops.fire_views(k, n), forward=self._forward_ops(fs.nnz))
        return terms

    def fire_sets(self):
        return self._csr(sort=True)

    def predictions(self):
        return self._forward(*self._csr(sort=True))

    def leaves(self):
        return np.ascontiguousarray(self._LT.T)
