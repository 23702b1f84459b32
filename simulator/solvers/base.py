"""The interface every training algorithm implements (docs/architecture.md, "Solvers").

A solver is built from a Problem and its options (SOLVER_OPTIONS), does its
one-off preprocessing in `init()`, and advances one iteration per `step()`.
Both return a StepRecord: per-phase seconds and counters, and `error` set
(instead of raising or producing NaN) when the iteration could not be taken —
a singular Gram matrix, say. After an error the solver's state is unchanged.

Read-only views give the metrics what they need; they may cost O(mn) or more
and are never called inside the timed step.
"""

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from simulator.solvers import SOLVER_OPTIONS


class NumericalError(Exception):
    """Numerical trouble inside a step (singular G, non-finite values)."""


@dataclass
class StepRecord:
    phase_seconds: dict = field(default_factory=dict)  # phase name -> seconds, in phase order
    counters: dict = field(default_factory=dict)  # e.g. nodes_touched, neurons_changed, reg_iterations
    error: str | None = None

    @property
    def seconds(self):
        return sum(self.phase_seconds.values())


class Phases:
    """Times named phases of one step into a StepRecord."""

    def __init__(self, record):
        self.record = record

    @contextmanager
    def __call__(self, name):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.record.phase_seconds[name] = self.record.phase_seconds.get(name, 0.0) + time.perf_counter() - t0


def resolve_options(name, options):
    """The solver's options with defaults filled in; unknown keys are an error."""
    table = SOLVER_OPTIONS[name]
    unknown = set(options or {}) - set(table)
    if unknown:
        raise ValueError(f"solver.{sorted(unknown)[0]}: not an option of solver {name!r} "
                         f"(options: {', '.join(table) or 'none'})")
    return {key: (options or {}).get(key, opt.default) for key, opt in table.items()}


def check_fire_counts(fire_counts):
    """Raise NumericalError naming the first point with an empty fire set (its row of J_t is zero)."""
    if np.any(fire_counts == 0):
        i = int(np.flatnonzero(fire_counts == 0)[0])
        raise NumericalError(f"point {i} has an empty fire set, so G_t is singular (row {i} of J_t is zero)")


def check_gram(G, fire_counts=None):
    """Raise NumericalError when G is singular or too ill-conditioned to solve with."""
    if fire_counts is not None:
        check_fire_counts(fire_counts)
    if not np.isfinite(G).all():
        raise NumericalError("G_t has non-finite entries")
    w = np.linalg.eigvalsh(G)
    if w[0] <= 1e-13 * max(w[-1], 1e-300):
        raise NumericalError(f"G_t is singular or ill-conditioned: λ_min = {w[0]:.3e}, λ_max = {w[-1]:.3e}")


def solve_spd(G, rhs):
    """G⁻¹ rhs by Cholesky; NumericalError when G is not numerically positive definite."""
    try:
        L = np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        check_gram(G)
        raise NumericalError("G_t is not positive definite (Cholesky failed)")
    z = np.linalg.solve(L, rhs)
    return np.linalg.solve(L.T, z)


class Solver:
    """Base class: subclasses set `name` and `phases` and implement the hooks."""

    name = ""
    phases: tuple = ()
    # what kind of step it takes, recorded in the trace (attr solver_direction) so that the theory
    # checks follow from what ran: "exact" (Gauss-Newton, G g = f − y solved directly), "sketched"
    # (Gauss-Newton by a sketch-preconditioned iterative regression), "gradient" (g = η(f − y))
    direction = "exact"
    counters: tuple = ()  # the StepRecord counters it reports (trace step metrics of the same name)

    def __init__(self, problem, options=None, lam=None):
        self.problem = problem
        self.options = resolve_options(self.name, options)
        self.lam = lam  # λ of the theory (exact NTK); None: λ_min(G_0) stands in, recorded
        self.t = 0
        self.info = {}  # what the solver decided (e.g. sketch rows, ε_reg, λ source), for the trace

    # one-off preprocessing and one iteration ---------------------------------
    def init(self):
        record = StepRecord()
        try:
            for key, value in self.options.items():  # every option goes into the trace (attrs solver_*)
                self.info.setdefault(key, value)
            self.info.setdefault("direction", self.direction)
            with Phases(record)("init"):
                self._init(record)
        except NumericalError as exc:
            record.error = str(exc)
        return record

    def step(self):
        record = StepRecord()
        try:
            self._step(record, Phases(record))
        except NumericalError as exc:
            record.error = str(exc)
            return record
        self.t += 1
        return record

    @classmethod
    def check_options(cls, n, d, m, options):
        """Raise ValueError("solver.<key>: …") for options that cannot work at these sizes — checked
        before anything is written (the default: none)."""

    @classmethod
    def streams_w0(cls, options):
        """Whether this solver with these options never holds W0 (reads only the rows it needs, streamed at
        Init): then the model's memory is counted for |K_0| neurons, not m."""
        return False

    @classmethod
    def memory_words(cls, n, d, m, options, k=None):
        """8-byte words the solver holds at its peak for these sizes and options (the memory guard);
        k: the expected |K_0| (neurons firing on some point at t = 0) where the model knows it, else None."""
        raise NotImplementedError

    def _init(self, record):
        raise NotImplementedError

    def _step(self, record, phase):
        raise NotImplementedError

    # views -----------------------------------------------------------------
    def predictions(self):
        """f_t (n,)."""
        raise NotImplementedError

    def fire_sets(self):
        """S_i(t) as CSR (indptr, indices), ascending neuron ids."""
        raise NotImplementedError

    def leaves(self):
        """U_t (n, m), U[i, r] = <w_r(t), x_i>."""
        raise NotImplementedError

    def weights(self):
        """W_t (m, d), explicit (may cost O(md))."""
        raise NotImplementedError

    def drift(self):
        """‖w_r(t) − w_r(0)‖ per neuron (m,)."""
        return np.linalg.norm(self.weights() - self.problem.W0, axis=1)

    def drift_moved(self):
        """(neurons whose drift is not 0, ascending; their drift): the drift without its m − k zeros. A
        solver whose moving neurons are few (the active-set index) overrides it at O(k) cost."""
        drift = self.drift()
        ids = np.flatnonzero(drift)
        return ids, drift[ids]

    def gram(self, fire_sets=None):
        """G_t = J_t J_tᵀ (n, n), exact (the model's identity from the fire sets; pass them if already
        computed: the metrics have them)."""
        return self.problem.gram(*(fire_sets or self.fire_sets()))

    def last_sketch(self):
        """(B, G_t): the last step's sketch B = S·J_tᵀ and the exact G_t = J_t J_tᵀ it sketched, or None for a
        solver that does not sketch (a view: G_t may be computed here, outside the timed step)."""
        return None

    def final_state(self, store_weights):
        """What /final of the trace holds: f, drift, and the weights W when `store_weights`."""
        out = {"f": self.predictions(), "drift": self.drift()}
        if store_weights:
            out["W"] = self.weights()
        return out

    def loss(self):
        r = self.predictions() - self.problem.y
        return 0.5 * float(r @ r)


def csr_from_mask(F):
    """CSR fire sets from a dense boolean incidence F (n, m)."""
    rows, cols = np.nonzero(F)
    indptr = np.zeros(F.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=F.shape[0]), out=indptr[1:])
    return indptr, cols.astype(np.int64)
