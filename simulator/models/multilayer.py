"""The multilayer network of seed 004 (docs/theory.md §9): the problem its solvers start from.

f(x) = aᵀ φ(W_L φ(… φ(W_1 x))),  φ(z) = max(z − b, 0) coordinate-wise,  a ∈ {±1}^m fixed,
W_1 ∈ R^{m×d}, W_ℓ ∈ R^{m×m}, unit-norm x, loss ½‖f − y‖². Only the last hidden layer W_L is
trained, so h_{i,L−1} (= v_i, the input of W_L) is computed once, here.

Initialisation (a documented deviation, docs/theory.md §9.2): the paper draws W_ℓ(0) ~ N(0, 2/m)
with b = √(2α log m), which leaves every neuron dead (pre-activations have std ≈ √(2/m) ≪ b). We
keep the paper's threshold in units of the pre-activation's spread: t = √(2α ln m),
σ_w² = 1/(m·κ(t)), b = t·σ_w, κ(t) = E[(Z − t)₊²] = (1 + t²)Q(t) − t·φ(t). Then every layer's
pre-activations are ≈ N(0, σ_w²), ‖h_ℓ‖ ≈ 1, and about m·Q(t) ≤ m^{1−α} neurons fire per layer. At
α = 0 it is exactly the paper's N(0, 2/m) with b = 0.

Draw order from the `init` stream (so that a seed reproduces every weight): a (m signs), W_1 (m, d),
then W_2 … W_{L−1} as their transposes row block by row block (W_ℓᵀ[c] = column c of W_ℓ, 4096 rows
at a time, each block used and dropped), then W_L(0)ᵀ (m, m) whole. Only W_L(0)ᵀ is kept.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from simulator.kernels.multilayer import neuron_major, sparse_forward

KIND = "multilayer"
PAPER = "seed004"  # the theory module whose checks apply (simulator/theory)

_BLOCK = 4096  # rows of W_ℓᵀ drawn at a time for the frozen middle layers

INIT_DEVIATION = ("W_l(0) ~ N(0, sigma_w^2) with sigma_w^2 = 1/(m kappa(t)), b = t sigma_w, t = sqrt(2 alpha ln m), "
                  "kappa(t) = (1 + t^2) Q(t) - t phi(t), instead of the paper's N(0, 2/m) with b = sqrt(2 alpha log m), "
                  "which leaves every neuron dead (docs/theory.md §9.2); alpha = 0 gives N(0, 2/m), b = 0")


def threshold(alpha, m):
    """t = √(2α ln m): the paper's b in units of the pre-activation's standard deviation."""
    return math.sqrt(2.0 * alpha * math.log(m))


def upper_tail(t):
    """Q(t) = P(Z > t) for Z ~ N(0, 1)."""
    return 0.5 * math.erfc(t / math.sqrt(2.0))


def kappa(t):
    """κ(t) = E[(Z − t)₊²] = (1 + t²)Q(t) − t·φ(t): the mean square of one active output."""
    return (1.0 + t * t) * upper_tail(t) - t * math.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)


def phi(Z, b):
    """φ(z) = max(z − b, 0)."""
    return np.maximum(Z - b, 0.0)


@dataclass
class Problem:
    """Data, signs, the frozen layers' output V = h_{L−1}, W_L(0)ᵀ and the threshold: what solvers start from."""

    X: np.ndarray  # (n, d), unit rows
    y: np.ndarray  # (n,)
    a: np.ndarray  # (m,), ±1
    WLt: np.ndarray  # (m, m): W_L(0)ᵀ, row c = column c of W_L(0)
    V: np.ndarray  # (n, m): row i = v_i = h_{i,L−1}, fixed during training
    b: float
    t: float
    sigma_w: float
    alpha: float
    layers: int
    active_below: np.ndarray  # (L−1, n) int64: ‖h_{i,ℓ}‖₀ for ℓ = 1..L−1
    sketch_seed: int = 0
    C: np.ndarray = field(init=False, repr=False)  # V Vᵀ (n, n), the fixed factor of G = (U Uᵀ) ∘ (V Vᵀ)
    V_sparse: tuple = field(init=False, repr=False)  # the nonzeros of V neuron-major (kernels.multilayer)
    Z0: np.ndarray = field(init=False, repr=False)  # (n, m) W_L(0)·v_i: layer L's pre-activations at t = 0

    def __post_init__(self):
        C = self.V @ self.V.T
        self.C = 0.5 * (C + C.T)
        self.V_sparse = neuron_major(self.V)
        self.Z0 = sparse_forward(self.WLt, self.V_sparse, self.n)

    @property
    def n(self):
        return self.X.shape[0]

    @property
    def d(self):
        return self.X.shape[1]

    @property
    def m(self):
        return self.a.shape[0]

    @property
    def weight_entries(self):
        """Entries of the trained weights (W_L: m²), for the trace's store-or-omit rule."""
        return self.m * self.m

    def dead_point(self):
        """A message naming the first point whose v_i = h_{i,L−1} is zero (its Jacobian row is zero at
        every step, so G is singular forever), or None."""
        for ell in range(self.layers - 1):
            dead = np.flatnonzero(self.active_below[ell] == 0)
            if dead.size:
                return (f"point {int(dead[0])} has no active neuron in layer {ell + 1} (of L = {self.layers}), "
                        f"so h_(i,L-1) = 0 and row {int(dead[0])} of J is zero at every step: G is singular; "
                        "lower network.alpha or change the seed")
        return None

    def gram(self, mask):
        """G = J Jᵀ = (U Uᵀ) ∘ (V Vᵀ) for the layer-L activation mask (n, m) (u_i = D_i a, a_r² = 1)."""
        F = mask.astype(np.float64)
        return (F @ F.T) * self.C


def make_problem(X, y, m, layers, alpha, rngs):
    """Draw the weights (order in the module docstring), run the frozen layers, keep W_L(0)ᵀ and v_i."""
    init = rngs["init"]
    n, d = X.shape
    t = threshold(alpha, m)
    sigma_w = 1.0 / math.sqrt(m * kappa(t))
    b = t * sigma_w
    a = init.choice(np.array([-1.0, 1.0]), size=m)
    W1 = init.standard_normal((m, d))
    W1 *= sigma_w
    H = phi(X @ W1.T, b)  # h_{i,1}
    del W1
    active = [np.count_nonzero(H, axis=1)]
    for _ in range(2, layers):  # frozen layers 2 … L−1: g = W_ℓ h = Σ_c h[c]·W_ℓᵀ[c]
        Z = np.zeros((n, m))
        for lo in range(0, m, _BLOCK):
            hi = min(lo + _BLOCK, m)
            block = init.standard_normal((hi - lo, m))
            block *= sigma_w
            Z += H[:, lo:hi] @ block
        H = phi(Z, b)
        active.append(np.count_nonzero(H, axis=1))
    WLt = np.empty((m, m))
    init.standard_normal(out=WLt)
    WLt *= sigma_w
    sketch_seed = int(rngs["sketch"].integers(0, 2**62))
    return Problem(X=np.ascontiguousarray(X, dtype=np.float64), y=np.ascontiguousarray(y, dtype=np.float64),
                   a=a, WLt=WLt, V=np.ascontiguousarray(H), b=b, t=t, sigma_w=sigma_w, alpha=float(alpha),
                   layers=int(layers), active_below=np.array(active, dtype=np.int64), sketch_seed=sketch_seed)


# -- the model seam (what the engine calls) --------------------------------------------------
def build(scenario, X, y, rngs):
    net = scenario.network
    return make_problem(X, y, net.m, net.layers, net.alpha, rngs)


def theory_constants(problem, scenario):
    """What seed 004's checks read: the threshold, the initialisation's deviation, λ = λ_min(G_0)."""
    G0 = problem.gram(problem.Z0 > problem.b)
    w = np.linalg.eigvalsh(G0)
    return {"b": problem.b, "layers": problem.layers, "alpha": problem.alpha, "threshold_t": problem.t,
            "sigma_w": problem.sigma_w, "kappa": kappa(problem.t), "init_deviation": INIT_DEVIATION,
            "lambda": float(w[0]), "lambda_max0": float(w[-1]), "lambda_source": "G_0",
            "rho": scenario.theory.rho}


def trace_data(problem, scenario):
    """/data: X, y, a, W_L(0) (while small) and the active counts of the frozen layers."""
    return {"X": problem.X, "y": problem.y, "a": problem.a, "W0": problem.WLt.T,
            "active_per_layer": problem.active_below,
            "dims": {"W0": ("neuron", "neuron_in"), "active_per_layer": ("frozen_layer", "point")},
            "note": f"W0 = W_L(0), drawn from the 'init' stream of seed {scenario.seed} after a, W_1 … W_(L-1) "
                    "(simulator.models.multilayer.make_problem)"}


def initial_scales(problem, f0):
    return {"f0_max_abs": float(np.max(np.abs(f0)))}


def expected_active(scenario):
    return None  # the two-layer notion of K_0 does not apply


def memory_words(n, d, m):
    """W_L(0)ᵀ, one block of a middle layer, and the (n, m) arrays V, h, Z0 and their sparse copy."""
    return m * m + _BLOCK * m + 6 * n * m + m * d
