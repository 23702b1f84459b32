"""Seed 001, "Does preprocessing help training over-parameterized neural networks?": its bounds as data.

Song, Yang, Zhang (NeurIPS 2021). The same two-layer shifted-ReLU network as seed 002 (docs/theory.md §1),
trained by plain gradient descent W ← W − η∇L; half-space-reporting (HSR) structures over the weights
(Algorithm 2) or over the data (Algorithm 3) only find the fire sets, so the iterates are dense GD's
(docs/theory.md §8).

What is here, in order:

* The bound formulas, closed form, each docstring saying "Exact" or "Order" and the paper's number:
  Lemma 3.4 (fire counts at t = 0 and the Bernstein tail), Remark 3.5 (b = √(0.4 log m)),
  Proposition 5.1 (λ from below), Lemma 5.2 (GD's linear rate, its step-size premise and footnote 6's
  iteration count), Lemma 4.1 / Thm 6.1 and Lemma 4.2 / Thm 6.2 (cost per iteration), and two derived
  facts of every step W − Jᵀg (the fire union never grows; a GD step moves a neuron by at most
  η·√(n/m)·‖u − y‖).
* The same bounds read off a trace's attrs (``lemma_3_4_fire_bound_of``, ``lemma_5_2_factor_of``, ...)
  and the row-by-row judgements ``lemma_5_2_judgement`` and ``union_growth``: the one implementation
  that `validate` and ``simulator.engine.figures_seed001`` both use.
* ``CHECKS``: the Check records of this paper, in report order (keys prefixed ``s001_``).

u(t) ∈ R^n is the prediction vector (eq. (5)), the f_t of docs/theory.md; λ = λ_min(H^cts) of the exact
shifted NTK (the trace's attr ``lambda``). `log` is the natural logarithm.
"""

import math

import numpy as np

from simulator.ntk import _b, _lam, _m, _n, _real, expected_fire_count
from simulator.theory import (FAILS, HOLDS, NA, RATIO, Premise, at_least, at_most, probability, registrar,
                              unknown_constant)

#: Remark 3.5: b = √(B_FACTOR · log m), so m·e^{−b²/2} = m^{4/5} (ᾱ = 0.2 in b = √(0.5(1 − ᾱ) log m))
B_FACTOR = 0.4
#: |b − √(0.4 ln m)| below which b counts as Remark 3.5's
SEED001_B_TOL = 1e-12
#: relative slack on the per-row comparisons (the metrics carry round-off)
RTOL = 1e-12
#: residual (relative to the start) at or below which Lemma 5.2 is not judged: round-off
#: (the same floor as seed 002's Def 4.5)
ROUNDOFF = 1e-10


# --------------------------------------------------------------------------- bounds (docs/theory.md §8)


def lemma_3_4_k0(m, b):
    """Lemma 3.4's k_0 := m·e^{−b²/2}, the bound on the mean fire count m·P[z > b] (z ~ N(0, 1)). Exact
    (a definition; the mean m·Q(b) is at most ½k_0)."""
    b = _b(b)
    return _m(m) * math.exp(-b * b / 2.0)


def lemma_3_4_fire_bound(m, b):
    """Lemma 3.4 (sparsity after initialisation): k_{i,0} = |S_i(0)| ≤ 2m·e^{−b²/2} = 2k_0, for every i,
    w.p. ≥ 1 − n·exp(−Ω(m e^{−b²/2})). Exact as the proof's last line states it (the lemma itself says
    O(m e^{−b²/2}); the constant 2 is the proof's choice t = k_0 in Bernstein's inequality)."""
    return 2.0 * lemma_3_4_k0(m, b)


def lemma_3_4_tail(m, b):
    """Lemma 3.4's proof (eq. (6) with t = k_0): P[|S_i(0)| > 2k_0] ≤ exp(−3k_0/8), per point i. Exact
    (a bound on a probability; a union bound over the n points multiplies it by n)."""
    return math.exp(-3.0 * lemma_3_4_k0(m, b) / 8.0)


def remark_3_5_b(m):
    """Remark 3.5: b = √(0.4 log m), so k_0 = m·e^{−b²/2} = m^{4/5}. Exact."""
    return math.sqrt(B_FACTOR * math.log(_m(m)))


def remark_3_5_fire_bound(m):
    """Remark 3.5 with Lemma 3.4: b = √(0.4 log m) ⇒ |S_i(0)| ≤ 2m^{4/5}. Exact (equals
    lemma_3_4_fire_bound(m, remark_3_5_b(m)))."""
    return 2.0 * _m(m) ** 0.8


def is_seed001_b(m, b):
    """Whether b is Remark 3.5's √(0.4 ln m) (within SEED001_B_TOL)."""
    return abs(float(b) - remark_3_5_b(m)) < SEED001_B_TOL


def prop_5_1_lambda_bound(b, delta, n):
    """Proposition 5.1 (informal Thm F.1): for unit, δ-separated inputs and any b ≥ 0,
    λ_min(H^cts) ≥ 0.01·e^{−b²/2}·δ/n². Exact (deterministic). The same bound as the lower half of seed 002's
    Thm 2.13."""
    b = _b(b)
    delta = _real("delta", delta, lo=0.0, hi=math.sqrt(2.0) + 1e-12)
    n = _real("n", n, lo=2.0)
    return 0.01 * math.exp(-b * b / 2.0) * delta / (n * n)


def lemma_5_2_factor(eta, lam):
    """Lemma 5.2: the per-step factor 1 − ηλ/2 of the squared residual. Exact (given the premises)."""
    eta = _real("eta", eta, lo=0.0, lo_open=True)
    return 1.0 - eta * _lam(lam) / 2.0


def lemma_5_2_envelope(res0_sq, eta, lam, k):
    """Lemma 5.2 (eq. (7)): ‖u(k) − y‖² ≤ (1 − ηλ/2)^k·‖u(0) − y‖² for k = 0, 1, …, T, w.p. ≥ 1 − ρ, when
    m = poly(n, 1/δ, log(n/ρ)), b = Θ(√log m) and η = O(λ/n²). Exact as stated (the premises' constants are
    not given in the seed). `k`: steps since the start, array or scalar; the factor must be > 0.
    For the loss ½‖u − y‖² the envelope is ½ of this."""
    factor = lemma_5_2_factor(eta, lam)
    if factor <= 0:
        raise ValueError(f"1 − ηλ/2 = {factor:.4g} ≤ 0: the envelope is not a bound")
    return _real("res0_sq", res0_sq, lo=0.0) * factor ** np.asarray(k, dtype=np.float64)


def lemma_5_2_judgement(residual_norms, eta, lam):
    """Lemma 5.2 judged row by row over a run: (envelope, judged, fails), arrays over the rows t = 0, 1, ….

    residual_norms: ‖u(t) − y‖ at t = 0, 1, 2, … (one row per step). envelope = (1 − ηλ/2)^t·‖u(0) − y‖²;
    row t ≥ 1 is judged unless its residual is at round-off (≤ ROUNDOFF of the start); a judged row fails
    when ‖u(t) − y‖² exceeds the envelope by more than RTOL (a NaN residual is judged and fails).
    ValueError when 1 − ηλ/2 ≤ 0. `validate` and the figures both judge through this.
    """
    res = np.asarray(residual_norms, dtype=np.float64).reshape(-1)
    t = np.arange(res.size)
    sq = res ** 2
    env = lemma_5_2_envelope(sq[0] if res.size else 0.0, eta, lam, t)
    judged = (t >= 1) & ~(res <= ROUNDOFF * res[0]) if res.size else np.zeros(0, dtype=bool)
    fails = judged & ~(sq <= env * (1.0 + RTOL))
    return env, judged, fails


def union_growth(union):
    """The derived fact |∪_i S_i(t+1)| ≤ |∪_i S_i(t)| judged over the measured rows (NaN rows skipped):
    a boolean per row, True where the union is larger than at the previous measured row."""
    v = np.asarray(union, dtype=np.float64).reshape(-1)
    rows = np.flatnonzero(np.isfinite(v))
    out = np.zeros(v.size, dtype=bool)
    if rows.size >= 2:
        out[rows[1:]] = np.diff(v[rows]) > 0
    return out


def lemma_5_2_step_scale(lam, n):
    """Lemma 5.2's premise η = O(λ/n²): returns λ/n² (the constant is not given). Order O."""
    return _lam(lam) / _n(n) ** 2


def lemma_5_2_iterations(lam, n, eps):
    """Lemma 5.2, footnote 6: T = λ^{−2}·n²·log(n/ε) iterations reach accuracy ε. Order (with
    η ∝ λ/n², the rate ηλ/2 ∝ λ²/n²)."""
    lam, n = _lam(lam), _n(n)
    eps = _real("eps", eps, lo=0.0, lo_open=True)
    return lam ** -2 * n * n * math.log(n / eps)


def step_move_bound(eta, n, m, residual_norm):
    """Per-step movement of one neuron under GD (derived, not in the paper):
    ‖w_r(t+1) − w_r(t)‖ = (η/√m)‖Σ_{i∈F_r(t)} (u_i − y_i) a_r x_i‖ ≤ (η/√m)‖u − y‖₁ ≤ η·√(n/m)·‖u(t) − y‖
    for unit x_i. Exact."""
    eta = _real("eta", eta, lo=0.0, lo_open=True)
    return eta * math.sqrt(_n(n) / _m(m)) * np.asarray(residual_norm, dtype=np.float64)


def lemma_4_1_cost(query_nodes, update_nodes, fire_total, d):
    """Lemma 4.1's per-step cost Σ_i T_query + (T_del + T_ins)·|∪_i S_i(t)| + d·Σ_i k_{i,t}, in counts:
    query_nodes + update_nodes + d·fire_total (HSR nodes visited by the queries, HSR nodes changed by the
    updates of the moved neurons, d per fire-set incidence for forward pass and gradient). Exact (an
    identity of the counts; arrays or scalars)."""
    d = _real("d", d, lo=1.0)
    return (np.asarray(query_nodes, dtype=np.float64) + np.asarray(update_nodes, dtype=np.float64)
            + d * np.asarray(fire_total, dtype=np.float64))


def dense_gd_cost(m, n, d):
    """Dense GD's work per step in the same units: one m·n·d product (the forward pass U = XWᵀ; the gradient
    JᵀR is another of the same size). Exact."""
    return _m(m) * _n(n) * _real("d", d, lo=1.0)


def thm_6_1_cost_order(m, n, d):
    """Lemma 4.1 / Thm 6.1 (Algorithm 2, HSR over the weights, Cor. 3.2 part 1): per step
    Õ(m^{1−1/⌊d/2⌋}·n·d) for the queries (Θ(1/d) in the statement; d ≥ 4 for a sublinear exponent), plus
    O(n m^{4/5} log² m) for the updates and O(m^{4/5} n d) for the gradient (b = √(0.4 log m)). Returns the
    sum without constants or log factors. Order Õ. The m^{4/5}·n·d term dominates unless ⌊d/2⌋ ≥ 5."""
    m, n = _m(m), _n(n)
    d = _real("d", d, lo=1.0)
    half = max(math.floor(d / 2.0), 1)
    return m ** (1.0 - 1.0 / half) * n * d + n * m ** 0.8 + m ** 0.8 * n * d


def thm_6_2_cost_order(m, n):
    """Lemma 4.2 / Thm 6.2 (Algorithm 3, static HSR over the data, Cor. 3.2 part 2): per step
    O(m^{4/5}·n·log n) (d a constant), Init O(m log n + m^{4/5} n). Returns m^{4/5}·n·log n. Order O."""
    m, n = _m(m), _n(n)
    return m ** 0.8 * n * math.log(max(n, 2.0))


# --------------------------------------------------------------------------- bounds of a trace
# Each takes a trace's attrs mapping (KeyError when an attr is missing, ValueError outside the formula's
# domain). `validate` and the figures read every bound value through these.


def learning_rate_of(attrs):
    """η the run used (attr ``solver_learning_rate``). KeyError when the trace does not record it."""
    return float(attrs["solver_learning_rate"])


def lemma_3_4_fire_bound_of(attrs):
    """Lemma 3.4: 2m·e^{−b²/2}. Exact as used."""
    return lemma_3_4_fire_bound(attrs["m"], attrs["b"])


def mean_fire_count_of(attrs):
    """E|S_i(0)| = m·Q(b) (not a bound: where the fire counts start)."""
    return expected_fire_count(attrs["m"], attrs["b"])


def prop_5_1_lambda_bound_of(attrs):
    """Proposition 5.1: 0.01·e^{−b²/2}·δ/n². Exact."""
    return prop_5_1_lambda_bound(attrs["b"], attrs["delta"], attrs["n"])


def lemma_5_2_factor_of(attrs):
    """Lemma 5.2: 1 − ηλ/2 with the η the run used and λ of the trace."""
    return lemma_5_2_factor(learning_rate_of(attrs), attrs["lambda"])


def lemma_5_2_step_ratio_of(attrs):
    """The measured premise of Lemma 5.2: η / (λ/n²) (η = O(λ/n²) asks for this to be O(1))."""
    return learning_rate_of(attrs) / lemma_5_2_step_scale(attrs["lambda"], attrs["n"])


def dense_gd_cost_of(attrs):
    """m·n·d: dense GD's work per step (the reference Lemma 4.1's counts are compared with)."""
    return dense_gd_cost(attrs["m"], attrs["n"], attrs["d"])


def step_move_bound_of(attrs, residual_norm):
    """η·√(n/m)·‖u(t) − y‖ with the run's η."""
    return step_move_bound(learning_rate_of(attrs), attrs["n"], attrs["m"], residual_norm)


# --------------------------------------------------------------------------- the checks
# Read from the trace (attrs, /trace rows); nothing is rerun. Which records apply follows from what the
# trace records: solver_direction (gradient: a GD run), the HSR counters (query_nodes, update_nodes), the
# approximate index's counters (missed, false_reported, loss_gap).

_CHECKS = []


_check = registrar(_CHECKS)


def _rows(tr, name):
    return np.asarray(tr[name]) if name in tr else None


def _float_rows(tr, name):
    """A metric's rows as float64, with −1 (an integer metric's "not computed") turned into NaN; or None."""
    arr = _rows(tr, name)
    if arr is None:
        return None
    out = arr.astype(np.float64)
    if arr.dtype.kind in "iu":
        out[arr < 0] = np.nan
    return out


def direction_of(attrs):
    """The step direction a trace records (attr solver_direction: exact, sketched, gradient), or None."""
    d = attrs.get("solver_direction")
    return None if d is None else (d.decode() if isinstance(d, bytes) else str(d))


def approximate_errors(tr):
    """(total missed, total falsely reported) of an approximate index, or None when the trace records
    neither metric (an exact index)."""
    missed, false = _float_rows(tr, "missed"), _float_rows(tr, "false_reported")
    if missed is None and false is None:
        return None
    def total(a):
        return float(np.nansum(a)) if a is not None and a.size else 0.0
    return total(missed), total(false)


def _residuals(tr):
    """‖u(t) − y‖ per state row (from residual_norm, else √(2·loss)), or None."""
    res = _float_rows(tr, "residual_norm")
    if res is None:
        loss = _float_rows(tr, "loss")
        res = None if loss is None else np.sqrt(2.0 * loss)
    return res


def _missing_attrs(c, attrs, *keys):
    """The NA result naming the attrs a record needs that the trace does not record, else None."""
    missing = [k for k in keys if k not in attrs]
    return c.result(NA, note=f"the trace does not record {', '.join(missing)}") if missing else None


def _not_gradient(c, attrs, what):
    """The NA result for a record about gradient descent when the run is not a GD run, else None."""
    direction = direction_of(attrs)
    if direction is None:
        return c.result(NA, note="the trace does not record its step direction (attr solver_direction): "
                                 f"cannot tell whether it is a gradient-descent run, which {what} is about")
    if direction != "gradient":
        return c.result(NA, note=f"{what} is about gradient descent W ← W − η∇L; this run's steps are "
                                 f"'{direction}' (solver_direction), not gradient steps")
    return None


def _approximate_na(c, tr, what):
    """The NA result when an approximate index missed or falsely reported fire-set members (the iterates
    are then not GD's), else None."""
    errs = approximate_errors(tr)
    if errs is not None and (errs[0] > 0 or errs[1] > 0):
        return c.result(NA, note=f"approximate index: {errs[0]:.0f} firing incidences missed and {errs[1]:.0f} "
                                 f"falsely reported, so the iterates are not gradient descent's and {what} "
                                 "does not speak about them (see s001_approximate)")
    return None


def fire_premises(attrs):
    """Lemma 3.4's premises on a run: b > 0, and the Bernstein tail n·exp(−3k₀/8) below 1 (else the
    high-probability statement says nothing)."""
    m, n, b = int(attrs["m"]), int(attrs["n"]), float(attrs["b"])
    return [Premise("b > 0", b, 0.0, b > 0, ">=", "the lemma assumes it"),
            at_most("n·exp(−3k₀/8) < 1", n * lemma_3_4_tail(m, b), 1.0,
                    why="claimed w.p. ≥ 1 − n·exp(−3k₀/8), k₀ = m·e^{−b²/2}")]


def lemma_5_2_premises(attrs):
    """Lemma 5.2's premises on a run: η = O(λ/n²), m = poly(n, 1/δ, log(n/ρ)) and b = Θ(√log m) have no constant
    in the seed (reported, not decided: η/(λ/n²) as the ratio (λ/n²)/η), and the probability level ρ."""
    eta, lam, n, m = learning_rate_of(attrs), float(attrs["lambda"]), int(attrs["n"]), int(attrs["m"])
    out = [unknown_constant("η = O(λ/n²)", eta, lemma_5_2_step_scale(lam, n), sense="<=",
                            why=f"constant not given; η/(λ/n²) = {eta / lemma_5_2_step_scale(lam, n):.3g}"),
           unknown_constant("m = poly(n, 1/δ, log(n/ρ))", m, why="polynomial not in the seed")]
    if "b" in attrs and m > 1:
        out.append(unknown_constant("b = Θ(√log m)", float(attrs["b"]), math.sqrt(math.log(m))))
    out.append(probability(float(attrs.get("rho", 0.1))))
    return out


@_check("s001_lemma_3_4", "Lemma 3.4", "inequality", "k_{i,0} = |S_i(0)| ≤ 2m·e^{−b²/2}",
        measured="max_i |S_i(0)|", bound="2m·e^{−b²/2}")
def _lemma_3_4(tr, c):
    fire = _float_rows(tr, "fire_count")
    if fire is None or fire.ndim != 2 or not fire.shape[0] or not np.all(np.isfinite(fire[0])):
        return c.result(NA, note="no per-point 'fire_count' at t = 0 in the trace")
    a = tr.attrs
    na = _missing_attrs(c, a, "m", "n", "b")
    if na is not None:
        return na
    m, n, b = int(a["m"]), int(a["n"]), float(a["b"])
    k0 = lemma_3_4_k0(m, b)
    tail = lemma_3_4_tail(m, b)
    measured = float(fire[0].max())
    bound = lemma_3_4_fire_bound(m, b)
    note = (f"max_i |S_i(0)|; k_0 = m·e^{{−b²/2}} = {k0:.4g}; Bernstein (eq. (6), t = k_0): "
            f"P[|S_i(0)| > 2k_0] ≤ exp(−3k_0/8) = {tail:.3g} per point, n·exp(−3k_0/8) = {min(n * tail, 1.0):.3g} "
            f"over the n points; mean fire count m·Q(b) = {expected_fire_count(m, b):.4g}")
    if b == 0:
        note += "; b = 0: the lemma assumes b > 0 and the bound 2m is vacuous"
    return c.result(HOLDS if measured <= bound else FAILS, measured, bound, note=note, premises=fire_premises(a))


@_check("s001_remark_3_5", "Remark 3.5", "inequality", "with b = √(0.4 log m): k_{i,0} ≤ 2m^{4/5}",
        measured="max_i |S_i(0)|", bound="2m^{4/5}")
def _remark_3_5(tr, c):
    fire = _float_rows(tr, "fire_count")
    if fire is None or fire.ndim != 2 or not fire.shape[0] or not np.all(np.isfinite(fire[0])):
        return c.result(NA, note="no per-point 'fire_count' at t = 0 in the trace")
    a = tr.attrs
    na = _missing_attrs(c, a, "m", "n", "b")
    if na is not None:
        return na
    m = int(a["m"])
    if not is_seed001_b(m, float(a["b"])):
        return c.result(NA, note=f"b = {float(a['b']):.4g} is not Remark 3.5's √(0.4 log m) = {remark_3_5_b(m):.4g}")
    measured, bound = float(fire[0].max()), remark_3_5_fire_bound(m)
    return c.result(HOLDS if measured <= bound else FAILS, measured, bound, note="k_0 = m^{4/5}",
                    premises=fire_premises(a))


@_check("s001_prop_5_1", "Prop. 5.1", "inequality", "λ = λ_min(H^cts) ≥ 0.01·e^{−b²/2}·δ/n²", measured="λ",
        bound="0.01·e^{−b²/2}·δ/n²")
def _prop_5_1(tr, c):
    a = tr.attrs
    na = _missing_attrs(c, a, "lambda", "delta", "b", "n")
    if na is not None:
        return na
    lam = float(a["lambda"])
    try:
        bound = prop_5_1_lambda_bound_of(a)
    except ValueError as e:
        return c.result(NA, note=f"outside the proposition's domain: {e}")
    premises = [at_least("b ≥ 0", a["b"], 0.0), at_most("δ ≤ √2", a["delta"], math.sqrt(2.0) + 1e-12,
                                                        why="δ-separated unit rows")]
    return c.result(HOLDS if lam >= bound else FAILS, lam, bound,
                    note="λ from the exact shifted NTK (attr lambda); the same statement as seed 002's Thm 2.13 "
                         "lower bound; deterministic", premises=premises)


@_check("s001_lemma_5_2", "Lemma 5.2", "inequality", "‖u(k) − y‖² ≤ (1 − ηλ/2)^k·‖u(0) − y‖², every k",
        measured="worst k-step rate", bound="1 − ηλ/2")
def _lemma_5_2(tr, c):
    """Gradient runs only; measured = the worst k-step rate (‖u(k)−y‖²/‖u(0)−y‖²)^{1/k}, bound = 1 − ηλ/2."""
    a = tr.attrs
    na = _not_gradient(c, a, "Lemma 5.2") or _approximate_na(c, tr, "Lemma 5.2")
    if na is not None:
        return na
    res = _residuals(tr)
    if res is None:
        return c.result(NA, note="no 'residual_norm' or 'loss' metric in the trace")
    if "solver_learning_rate" not in a:
        return c.result(NA, note="the trace does not record the step size η (attr solver_learning_rate)")
    na = _missing_attrs(c, a, "lambda", "n")
    if na is not None:
        return na
    eta, lam = learning_rate_of(a), float(a["lambda"])
    if not (eta > 0 and lam > 0):
        return c.result(NA, note=f"η = {eta:g} and λ = {lam:g} must be > 0")
    factor = lemma_5_2_factor(eta, lam)
    premises = lemma_5_2_premises(a)
    if factor <= 0:
        return c.result(NA, note=f"ηλ/2 = {eta * lam / 2:.4g} ≥ 1, so 1 − ηλ/2 ≤ 0 and the envelope is no bound")
    if res.size < 2 or not math.isfinite(res[0]):
        return c.result(NA, note="no iteration in the trace (or no residual at t = 0)")
    if res[0] == 0:
        return c.result(NA, note="the residual is 0 at t = 0")
    t = np.arange(res.size)
    sq = res ** 2
    _, judged, bad = lemma_5_2_judgement(res, eta, lam)
    rates = (sq[judged] / sq[0]) ** (1.0 / t[judged])
    worst = float(np.max(rates)) if rates.size else 0.0
    first = int(t[bad][0]) if bad.any() else -1
    return c.result(FAILS if bad.any() else HOLDS, worst, factor, first,
                    note=f"measured = worst k-step rate (‖u(k)−y‖²/‖u(0)−y‖²)^{{1/k}} over {int(judged.sum())} "
                         f"rows, bound = 1 − ηλ/2 (ηλ/2 = {eta * lam / 2:.4g}); rows at round-off "
                         f"(‖u(k)−y‖ ≤ {ROUNDOFF:g}·‖u(0)−y‖) not judged; η = {eta:.4g} (solver_learning_rate), "
                         f"η/(λ/n²) = {lemma_5_2_step_ratio_of(a):.3g}", premises=premises)


@_check("s001_lemma_4_1", "Lemma 4.1", "order",
        "per step Σ_i T_query + (T_del + T_ins)·|∪_i S_i| + d·Σ_i k_{i,t} vs dense GD's m·n·d",
        measured="median per-step count", bound="m·n·d")
def _lemma_4_1(tr, c):
    """Counts: query_nodes + update_nodes + d·fire_total per step, against m·n·d; measured = the median."""
    a = tr.attrs
    q = _float_rows(tr, "query_nodes")
    if q is None:
        return c.result(NA, note="no 'query_nodes' metric: the run used no half-space-reporting index, whose "
                                 "work Lemma 4.1 counts")
    na = _missing_attrs(c, a, "m", "n", "d")
    if na is not None:
        return na
    K = q.shape[0]
    if K == 0:
        return c.result(NA, note="no step in the trace")
    notes = []
    u = _float_rows(tr, "update_nodes")
    if u is None:
        u = np.zeros(K)
        notes.append("no 'update_nodes' metric: updates counted as 0 (a static structure)")
    ft = _float_rows(tr, "fire_total")
    if ft is None:
        fire = _float_rows(tr, "fire_count")
        if fire is None or fire.ndim != 2:
            return c.result(NA, note="neither 'fire_total' nor 'fire_count' in the trace: Σ_i k_{i,t} unknown")
        ft = fire.sum(axis=1)[:K]
        notes.append("Σ_i k_{i,t} from fire_count row t")
    L = min(K, u.shape[0], ft.shape[0])
    d = float(a["d"])
    cost = lemma_4_1_cost(q[:L], u[:L], ft[:L], d)
    ok = np.isfinite(cost)
    if not ok.any():
        return c.result(NA, note="the HSR counters were never recorded")
    dense = dense_gd_cost_of(a)
    frac = cost[ok] / dense
    steps = np.arange(1, L + 1)[ok]
    j = int(np.argmax(frac))
    measured = float(np.median(cost[ok]))
    idx = a.get("solver_index")
    notes[:0] = [f"median per-step fraction of dense GD's m·n·d = {np.median(frac):.3g} "
                 f"(max {frac[j]:.3g} at step {int(steps[j])}, min {frac.min():.3g}, over {int(ok.sum())} steps); "
                 "below 1: the structure's work (query_nodes + update_nodes + d·fire_total) is below the one "
                 "m·n·d product dense GD pays per step (it pays two: forward and gradient); a ratio, not a pass/fail: "
                 "Thm 6.1's Õ(m^{1−Θ(1/d)}nd) holds only up to constants"]
    if idx is not None:
        notes.append(f"index {idx}")
    for name, label in (("rebuilds", "structure rebuilds"), ("candidates", "candidates queried (Σ_i, all steps)")):
        v = _float_rows(tr, name)
        if v is not None:
            notes.append(f"{label}: {np.nansum(v):.0f}")
    return c.result(RATIO, measured, dense, note="; ".join(notes))


@_check("s001_union_monotone", "derived (Lemma 4.1 proof)", "inequality",
        "|∪_i S_i(t+1)| ≤ |∪_i S_i(t)|: a neuron firing nowhere does not move",
        measured="largest increase of |∪_i S_i|", bound="0")
def _union_monotone(tr, c):
    """Any step W − J_tᵀg (gradient, exact or sketched Gauss-Newton) moves only neurons of ∪_i S_i(t)."""
    union = _float_rows(tr, "union_fire")
    if union is None:
        return c.result(NA, note="no 'union_fire' metric in the trace")
    t = np.flatnonzero(np.isfinite(union))
    if t.size < 2:
        return c.result(NA, note="fewer than two rows of 'union_fire'")
    v = union[t]
    inc = np.diff(v)
    bad = union_growth(union)
    first = int(np.flatnonzero(bad)[0]) if bad.any() else -1
    note = (f"measured = the largest increase between consecutive measured rows; |∪_i S_i| = {v[0]:.0f} at "
            f"t = {int(t[0])}, {v[-1]:.0f} at t = {int(t[-1])}; exact for every step of the form W − J_tᵀg "
            "(docs/theory.md §6)")
    errs = approximate_errors(tr)
    premises = []
    if errs is not None:
        # misses keep the premise (a missed neuron does not move); a false report entering the step would break it
        premises.append(at_most("false reports = 0", errs[1], 0.0,
                                why="every step is W − J_tᵀg with the true J_t (approximate index)"))
        note += (f"; approximate index: {errs[0]:.0f} misses (a missed neuron does not move, so they keep the "
                 f"premise), {errs[1]:.0f} false reports")
    return c.result(FAILS if bad.any() else HOLDS, float(inc.max()), 0.0, first, note=note, premises=premises)


@_check("s001_step_move", "derived (eq. (4))", "inequality",
        "max_r ‖w_r(t+1) − w_r(t)‖ ≤ η·√(n/m)·‖u(t) − y‖, every step",
        measured="max_r ‖Δw_r‖", bound="η·√(n/m)·‖u(t) − y‖")
def _step_move(tr, c):
    """Gradient runs; measured = the worst ratio move_max / (η√(n/m)‖u(t)−y‖) over the steps, bound 1."""
    a = tr.attrs
    na = _not_gradient(c, a, "the per-step movement bound") or _approximate_na(c, tr, "the movement bound")
    if na is not None:
        return na
    mv = _float_rows(tr, "move_max")
    if mv is None:
        return c.result(NA, note="no 'move_max' metric in the trace")
    res = _residuals(tr)
    if res is None:
        return c.result(NA, note="no 'residual_norm' or 'loss' metric in the trace")
    if "solver_learning_rate" not in a:
        return c.result(NA, note="the trace does not record the step size η (attr solver_learning_rate)")
    na = _missing_attrs(c, a, "m", "n")
    if na is not None:
        return na
    K = min(mv.shape[0], res.shape[0] - 1)
    if K <= 0:
        return c.result(NA, note="no step in the trace")
    mv = mv[:K]
    bound = step_move_bound_of(a, res[:K])
    ok = np.isfinite(mv) & np.isfinite(bound)
    if not ok.any():
        return c.result(NA, note="'move_max' was never recorded")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bound > 0, mv / bound, np.where(mv > 0, np.inf, 0.0))
    bad = ok & ~(mv <= bound * (1.0 + RTOL))
    steps = np.arange(1, K + 1)
    first = int(steps[bad][0]) if bad.any() else -1
    note = (f"measured = worst ratio max_r‖Δw_r‖ / (η√(n/m)‖u(t)−y‖) over {int(ok.sum())} steps; "
            f"η = {learning_rate_of(a):.4g}")
    drift = _float_rows(tr, "drift_max")
    if drift is not None and np.isfinite(drift).any():
        last = int(np.flatnonzero(np.isfinite(drift))[-1])
        if 0 < last <= K:
            total = float(np.sum(step_move_bound_of(a, res[:last])))
            note += (f"; summed over steps (triangle inequality): drift_max({last}) = {drift[last]:.4g} "
                     f"≤ Σ_t η√(n/m)‖u(t)−y‖ = {total:.4g}")
    return c.result(FAILS if bad.any() else HOLDS, float(np.max(ratio[ok])), 1.0, first, note=note)


@_check("s001_approximate", "Sec. 7 (limitations)", "order",
        "an approximate index (LSH) misses firing neurons: the iterates are not gradient descent's",
        measured="firing incidences missed", bound="true incidences")
def _approximate(tr, c):
    """Diagnostic, never "holds": total misses over the true firing incidences, false reports, loss gap."""
    missed = _float_rows(tr, "missed")
    if missed is None:
        return c.result(NA, note="no 'missed' metric: an exact index (HSR or other); the iterates are those of "
                                 "dense gradient descent (or of the run's exact step rule)")
    tot_missed = float(np.nansum(missed))
    K = missed.shape[0]
    false = _float_rows(tr, "false_reported")
    gap = _float_rows(tr, "loss_gap")
    fire = _float_rows(tr, "fire_count")
    truth = None
    if fire is not None and fire.ndim == 2 and fire.shape[0] >= K:
        truth = float(np.nansum(fire[:K]))          # Σ over the steps' states t = 0..K−1 of Σ_i |S_i(t)|
    parts = [f"the run's iterates are not gradient descent's (Lemma 5.2 does not apply); "
             f"{tot_missed:.0f} firing incidences (i, r) missed over {K} steps "
             f"({int(np.sum(missed > 0))} steps with a miss)"]
    if truth:
        parts.append(f"miss rate {tot_missed / truth:.3g} of the {truth:.0f} true incidences (ratio = measured/bound)")
    if false is not None:
        parts.append(f"{np.nansum(false):.0f} false reports")
    if gap is not None and np.isfinite(gap).any():
        g = gap[np.isfinite(gap)]
        parts.append(f"final loss gap to exact GD {g[-1]:.4g} (> 0: behind GD), max |gap| {np.max(np.abs(g)):.4g}")
    else:
        parts.append("no 'loss_gap' recorded")
    if tot_missed == 0 and (false is None or np.nansum(false) == 0):
        parts.append("no miss and no false report in this run: its iterates equal GD's here, by luck, not by guarantee")
    return c.result(RATIO, tot_missed, truth if truth else None, note="; ".join(parts))


#: the Check records of seed 001, in report order
CHECKS = tuple(_CHECKS)
del _CHECKS


def sweep_columns(attrs, results=None):
    """This paper's columns of a sweep's summary row: none (the summary table's columns are seed 002's)."""
    return {}
