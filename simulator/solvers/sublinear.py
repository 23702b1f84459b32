"""Seed 002 Algorithm 5: training in time sublinear in m, as one fire-set index × one step direction.

Per iteration (phases as timed):
  query       the index's fire sets at b: K = ∪_i S_i with each neuron's points, and f_t from fire
              sets and leaf values only (the paper: Q_i = Tree.Query(i, b) for every point);
  (direction) the g of W_{t+1} = W_t − J_tᵀ g: for Gauss-Newton the sketch B = S(D_i ⊗ I_d)A of
              Jᵀ and R = R_B⁻¹ (lines 10-26), then the paper's iteration or PCG (lines 31-35) — or G_t
              from the fire-set incidence and a direct solve; for gradient descent g = η(f_t − y)
              (solvers/directions.py);
  update      W_{t+1} = W_t − J_tᵀ g_t on the neurons of K only, kept implicitly (W0 + coefficient
              rows, docs/theory.md §6), and their leaves refreshed — by inner products (O(nd) per neuron) or
              through X Xᵀ (d-free, docs/theory.md §6) — by the index (simulator/indexes).

Options (SOLVER_OPTIONS["sublinear"]): index = tree | fireset | active, step = gauss-newton | gd,
regression = paper | pcg | exact-gram, leaf_update = inner-product | gram, the sketch's kind, rows
and nonzeros per column, ε_reg, the learning rate of gd. The paper's algorithm as printed is
index = tree, regression = paper, leaf_update = inner-product.

The solver itself does not know which index or direction it runs: every index applies any step of
the form W − Jᵀg, which every direction produces.

Every step records `phase_flops`, the operations of each phase (aligned with `phases`): the index
counts its query and update (`Index.query_ops`, `update_ops`), the direction its own phases
(`Direction.op_terms`), all from the one table of indexes/ops.py (docs/theory.md §10), after each
phase and outside its timing. The last step's terms stay readable as `op_terms`.
"""

import math

import numpy as np

from simulator.indexes import get_index, ops
from simulator.kernels import jacobian as _jac
from simulator.models.two_layer import ImplicitWeights
from simulator.solvers.regression import sketch_words
from simulator.solvers.base import NumericalError, Solver
from simulator.solvers.directions import make_direction


class Sublinear(Solver):
    name = "sublinear"

    def __init__(self, problem, options=None, lam=None):
        super().__init__(problem, options, lam)
        self.index_cls = get_index(self.options["index"])
        self.dir = make_direction(problem, self.options, self.info, self.step_rule())
        self.direction = self.dir.kind
        self.phases = ("query", *self.dir.phases, "update")
        self.counters = ("neurons_changed", "fire_total", "move_max", "phase_flops", *self.dir.counters,
                         *self.index_cls.counters, *self.index_cls.audits) \
            + (("loss_gap",) if self.index_cls.approximate else ())
        self._exact_twin = None
        self.op_terms = {}  # {phase: {term: operations}} of the last step (indexes/ops.py)

    def step_rule(self):
        """gauss-newton | gd (the option `step`)."""
        return self.options["step"]

    @classmethod
    def streams_w0(cls, options):
        # the active-set index builds from the streamed Init and keeps K_0's rows of W0 (indexes/active.py)
        return options.get("index") == "active"

    @classmethod
    def memory_words(cls, n, d, m, options, k=None):
        # the index, the implicit-weight coefficients of the neurons that move (all in K_0, K_{t+1} ⊆ K_t),
        # and the sketch of a sketched direction
        k = m if k is None else k
        words = get_index(options["index"]).memory_words(n, d, m, k=k) + n * k
        if options.get("leaf_update", "inner-product") == "inner-product":
            words += k * d  # a step's explicit rows of K, before their inner products (kernels/jacobian.py)
        if options.get("step", "gauss-newton") == "gauss-newton" and options.get("regression") in ("paper", "pcg"):
            words += sketch_words(options, n, d, m)
        if options.get("index") == "lsh":  # per table: codes, order, sorted codes, argsort scratch, (L, m) int64 each
            words += 4 * int(options["lsh_tables"]) * m - 2 * 16 * m  # LSHIndex.memory_words counts 16 tables
        return words

    def _init(self, record):
        p = self.problem
        self.W = ImplicitWeights(p)
        self.index = self.index_cls(p, self.W, self.options)
        self.index.build()
        record.counters.update(self.index.work())
        lam = self.lam
        if lam is None:  # stand-in until the caller supplies λ of the exact NTK
            lam = float(np.linalg.eigvalsh(self.gram())[0])
            self.info["lambda_source"] = "lambda_min(G_0)"
        else:
            self.info["lambda_source"] = "ntk"
        self.info["lambda_used"] = lam
        self.dir.init(lam, self.gram)
        if self.index_cls.approximate:
            # an approximate index's iterates are not the exact method's: run the exact one beside it
            # (the active-set index, same start, same η) so each step records the loss gap, untimed
            twin = dict(self.options, index="active", leaf_update="gram")
            if "learning_rate" in twin:
                twin["learning_rate"] = self.info.get("learning_rate", twin["learning_rate"])
            self._exact_twin = type(self)(p, twin, lam=self.lam)
            rec = self._exact_twin.init()
            if rec.error:
                raise NumericalError(f"the exact run beside the approximate one: {rec.error}")
            self.info["loss_gap_reference"] = "the same solver with index = active, same start and step size"

    def _step(self, record, phase):
        work0 = self.index.work()
        with phase("query"):
            fs = self.index.query(point_major=self.dir.needs_point_major)
        work1 = self.index.work()
        terms = {"query": self.index.query_ops(fs, _change(work1, work0))}  # untimed, before the step changes it
        record.counters.update(self.index.audit(fs))  # untimed, like every counter
        g = self.dir.compute(fs, self.t, phase, record)
        terms.update(self.dir.op_terms)
        if not np.isfinite(g).all():
            raise NumericalError("the step direction g is not finite")
        p = self.problem
        # untimed: the largest move of one neuron, ‖Δw_r‖ = ‖Σ_{i∈F_r} g_i x_i‖/√m (|a_r| = 1)
        record.counters["move_max"] = _jac.max_step_norm(fs.kptr, fs.kpts, g, p.XXt) / math.sqrt(p.m)
        nK, nnz = fs.K.shape[0], fs.nnz  # read before the update: the active index compacts K in place
        with phase("update"):
            self.index.apply_step(fs, g)
        work2 = self.index.work()
        terms["update"] = self.index.update_ops(int(nK), nnz, _change(work2, work1))
        self.op_terms = terms
        record.counters.update(neurons_changed=int(nK), fire_total=nnz,
                               phase_flops=np.array([ops.total(terms[k]) for k in self.phases], dtype=np.float64))
        for key, total in work2.items():
            record.counters[key] = total - work0[key]
        if self._exact_twin is not None:  # untimed
            rec = self._exact_twin.step()
            if rec.error:
                raise NumericalError(f"the exact run beside the approximate one: {rec.error}")
            record.counters["loss_gap"] = self.loss() - self._exact_twin.loss()

    # views
    def fire_sets(self):
        return self.index.fire_sets()

    def gram(self, fire_sets=None):
        # from the index's neuron-major sets when it keeps them (the same integer counts, so the same G)
        by_neuron = self.index.neuron_major()
        if by_neuron is not None:
            return self.problem.gram_neuron_major(*by_neuron)
        return super().gram(fire_sets)

    def predictions(self):
        return self.index.predictions()

    def leaves(self):
        return self.index.leaves()

    def weights(self):
        return self.W.dense()

    def drift(self):
        return self.W.drift()

    def w0_rows(self, ids):
        """Rows of W0 for these neurons: the ones the index holds (K_0's, for the tree and active-set
        indexes) without regenerating them, else from the problem."""
        return self.W.w0(ids)

    def drift_moved(self):
        return self.W.drift_moved()

    def last_sketch(self):
        return self.dir.last_sketch()

    def final_state(self, store_weights):
        """f and the weights in implicit form: W0 + C X on the neurons that moved (docs/theory.md §6), with
        their drift; every other neuron is where it started. O(moved·n), whatever m is."""
        ids, C = self.W.moved_neurons()
        _, drift = self.W.drift_moved()
        return {"f": self.predictions(), "moved_neurons": ids, "coefficients": C, "moved_drift": drift}


def _change(after, before):
    """The change of an index's `work()` counters over one phase."""
    return {key: after[key] - before[key] for key in after}
