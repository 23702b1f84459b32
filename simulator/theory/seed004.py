"""Seed 004, "Training multi-layer over-parametrized neural network in subquadratic time": its claims as data.

Song, Zhang, Zhang (ITCS 2024). The network is f(x) = aᵀφ(W_L φ(… φ(W_1 x))) with the shifted ReLU
φ(z) = max(z − b, 0), a ∈ {±1}^m fixed and unit-norm x; only W_L (the last hidden layer) is trained, by
Gauss-Newton W_L(t+1) = W_L(t) − J_tᵀg with g = (J_t J_tᵀ)^{-1}(f_t − y) (exactly, or through a sketch of
J_t), or by gradient descent g = η(f_t − y). Row i of J_t is u_i ⊗ v_i, u_i = D_{i,L}a (the active neurons
of layer L on x_i), v_i = h_{i,L−1}; the Gram is G = (UᵀU) ∘ (VᵀV).

What is here, in order:

* The project's initialisation (it deviates from the paper's, whose N(0, 2/m) weights with
  b = √(2α log m) leave every neuron dead): threshold t = √(2α ln m), κ(t) = E[(Z − t)₊²],
  σ_w² = 1/(m·κ(t)), b = t·σ_w (``initialisation``), so layer 1's pre-activations are N(0, σ_w²) and
  E‖h_{i,1}‖² = 1; deeper layers keep this only approximately (``norm_gain``: a point's deviation of
  ‖h‖² from 1 grows by 1 + t(φ(t) − tQ(t))/κ(t) per layer).
* The bound formulas, closed form, each docstring saying "Exact" or "Order": Theorem 1's contraction
  ‖f_{t+1} − y‖ ≤ ⅓‖f_t − y‖ and its round-off floor (``contraction_judgement``), the sparsity bound
  ‖h_{i,ℓ}‖₀ ≤ m^{1−α} with the expected count m·Q(t) and its Mills-ratio bound, rank ΔW ≤ n, the rank of
  the maintained factorisation of W_L(t) − W_L(0), the identity ‖ΔW‖_F² = gᵀG_t g (``identity_judgement``)
  and the drift bound 1.5·‖f_0 − y‖/√λ_min(G_0) read off the proof of Theorem 1.
* The same bounds read off a trace's attrs (``sparsity_bound_of``, ``expected_active_of``,
  ``drift_bound_of``, ...): the one implementation that `validate` and ``simulator.engine.figures_seed004``
  both use.
* ``CHECKS``: the Check records of this paper, in report order (keys prefixed ``s004_``), and
  ``sweep_columns``.

Theorem 1's premise is a width m ≥ poly(n, L, 1/λ) whose constant the conference version does not give, so
no run can check it: a contraction that fails is reported as ``premise not checkable`` (simulator.theory.verdict),
with the measured ratios beside it, and does not make `validate` exit 1. The sparsity bound has the same premise.
λ is λ_min(G_0) of the trace (attr ``lambda``, ``lambda_source`` = "G_0"). `log` is the natural logarithm.
"""

import math

import numpy as np

from simulator.kernels.gauss import ndtr
from simulator.ntk import _lam, _m, _n, _real
from simulator.theory import FAILS, HOLDS, NA, RATIO, registrar, unknown_constant
from simulator.theory.seed001 import direction_of

#: Theorem 1: the residual norm shrinks by at least this factor per Gauss-Newton step
THM1_FACTOR = 1.0 / 3.0
#: residual relative to ‖f_0 − y‖ at or below which later steps are not judged (round-off)
ROUNDOFF = 1e-10
#: absolute residual at or below which later steps are not judged (round-off)
ROUNDOFF_ABS = 1e-12
#: relative slack on the per-step contraction comparison (the residuals carry round-off)
CONTRACTION_RTOL = 1e-12
#: the drift bound's constant Σ_k (1/3)^k = 3/2 (proof of Theorem 1)
DRIFT_FACTOR = 1.5
#: relative tolerance of the identity ‖ΔW‖_F² = gᵀG_t g
IDENTITY_RTOL = 1e-8
#: round-off floor of that identity, times ‖W_L‖_F·‖ΔW‖_F: ‖ΔW‖_F² measured by differencing two states
#: carries an error up to 2ε‖W_L‖_F‖ΔW‖_F (ε = 2.2e-16); 1e-13 leaves a margin of ~200
IDENTITY_ROUNDOFF = 1e-13
#: ‖W_L(0)‖_F is estimated as this times m·σ_w (E‖W_L(0)‖_F² = m²σ_w²; it concentrates within 1/m)
W_NORM_SLACK = 2.0
#: relative tolerance when comparing the recorded t, κ, σ_w, b with their formulas
INIT_RTOL = 1e-9
#: the initialisation's deviation from the paper, when a trace does not say it (attr init_deviation)
INIT_DEVIATION = ("not the paper's N(0, 2/m) with b = √(2α log m), which leaves every neuron dead: "
                  "t = √(2α ln m), σ_w² = 1/(m·κ(t)), b = t·σ_w, so pre-activations are ≈ N(0, σ_w²)")


# --------------------------------------------------------------------------- the initialisation


def gaussian_tail(t):
    """Q(t) = P[Z > t] for a standard normal Z (array or scalar)."""
    return ndtr(-np.asarray(t, dtype=np.float64))  # Φ(−t), by libm's erfc (no scipy.special: 0.7 s to import)


def gaussian_density(t):
    """φ(t) = e^{−t²/2}/√(2π) (array or scalar)."""
    t = np.asarray(t, dtype=np.float64)
    return np.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)


def _alpha(alpha):
    return _real("alpha", alpha, lo=0.0, hi=1.0, hi_open=True)


def _t(t):
    return _real("t", t, lo=0.0)


def threshold(m, alpha):
    """t = √(2α ln m): the threshold in units of the pre-activation's standard deviation, so that
    e^{−t²/2} = m^{−α}. Exact (the project's reading of the paper's b = √(2α log m))."""
    return math.sqrt(2.0 * _alpha(alpha) * math.log(_m(m)))


def kappa(t):
    """κ(t) = E[(Z − t)₊²] = (1 + t²)Q(t) − t·φ(t), Z standard normal. Exact (closed form; the difference
    cancels about two digits at t ≈ 6, which leaves ~1e-13 relative accuracy)."""
    t = _t(t)
    return float((1.0 + t * t) * gaussian_tail(t) - t * gaussian_density(t))


def sigma_w(m, t):
    """σ_w = 1/√(m·κ(t)): with weights N(0, σ_w²) and ‖h_{ℓ−1}‖ = 1, the pre-activations are N(0, σ_w²) and
    E‖φ(W_ℓ h_{ℓ−1})‖² = m·σ_w²·κ(t) = 1. Exact for layer 1 (unit x); deeper layers only while ‖h_{ℓ−1}‖ ≈ 1
    (see ``norm_gain``)."""
    return 1.0 / math.sqrt(_m(m) * kappa(t))


def norm_gain(t):
    """The slope of ‖h_{ℓ−1}‖² ↦ E‖h_ℓ‖² = ‖h_{ℓ−1}‖²·κ(t/‖h_{ℓ−1}‖)/κ(t) at ‖h_{ℓ−1}‖ = 1:
    1 + t·(φ(t) − t·Q(t))/κ(t) (≥ 1, = 1 only at t = 0). Above 1, the unit norm is a repelling fixed point: a
    point's deviation of ‖h‖² from 1 grows about this many times per layer (≈ 3 at t = 1.6), and with it
    that point's active count in the deeper layers. Exact (a derivative)."""
    t = _t(t)
    return 1.0 + t * float(gaussian_density(t) - t * gaussian_tail(t)) / kappa(t)


def initialisation(m, alpha):
    """The project's initialisation constants for width m and sparsity exponent α:
    {"threshold_t": t, "kappa": κ(t), "sigma_w": σ_w, "b": t·σ_w} (the root attrs of a multilayer trace)."""
    t = threshold(m, alpha)
    s = sigma_w(m, t)
    return {"threshold_t": t, "kappa": kappa(t), "sigma_w": s, "b": t * s}


# --------------------------------------------------------------------------- bounds


def sparsity_bound(m, alpha):
    """Sparsity: ‖h_{i,ℓ}‖₀ ≤ m^{1−α} for every layer ℓ and point i when b is chosen from α. Exact as the
    paper states it (a high-probability bound)."""
    return _m(m) ** (1.0 - _alpha(alpha))


def expected_active(m, t):
    """E‖h_{i,ℓ}‖₀ = m·Q(t) (each pre-activation ≈ N(0, σ_w²), active when above b = tσ_w). Not a bound:
    where the counts are expected to sit."""
    return _m(m) * float(gaussian_tail(_t(t)))


def expected_active_bound(m, alpha):
    """m·Q(t) ≤ m·φ(t)/t = m^{1−α}/(t√(2π)) with t = √(2α ln m) (Mills' ratio): the expectation lies that far
    below the sparsity bound. Exact; needs t > 0 (α > 0, m > 1)."""
    t = threshold(m, alpha)
    if t <= 0:
        raise ValueError("t = √(2α ln m) = 0: the Mills-ratio bound needs t > 0")
    return sparsity_bound(m, alpha) / (t * math.sqrt(2.0 * math.pi))


def thm1_envelope(res0, t):
    """Theorem 1 over t steps: ‖f_t − y‖ ≤ (1/3)^t·‖f_0 − y‖. Exact (given the width premise). `t` array or
    scalar."""
    return _real("res0", res0, lo=0.0) * THM1_FACTOR ** np.asarray(t, dtype=np.float64)


def roundoff_floor(res0):
    """The residual at or below which a step is not judged: max(ROUNDOFF·‖f_0 − y‖, ROUNDOFF_ABS)."""
    return max(ROUNDOFF * float(res0), ROUNDOFF_ABS)


def contraction_judgement(residual_norms):
    """Theorem 1's ‖f_{t+1} − y‖ ≤ ⅓‖f_t − y‖ judged step by step over a run.

    residual_norms: ‖f_t − y‖ at t = 0, 1, …, T. Returns (judged, fails, ratios), arrays over the steps
    t → t+1 (length T): once a residual reaches round-off (≤ ROUNDOFF·‖f_0 − y‖ or ≤ ROUNDOFF_ABS) that step
    and every later one is not judged; a judged step fails when ‖f_{t+1} − y‖ > ⅓‖f_t − y‖(1 + RTOL) (a NaN
    residual is judged and fails). ratios = ‖f_{t+1} − y‖/‖f_t − y‖ (inf where not finite). `validate` and the
    figures both judge through this."""
    res = np.asarray(residual_norms, dtype=np.float64).reshape(-1)
    if res.size < 2:
        empty = np.zeros(0, dtype=bool)
        return empty, empty, np.zeros(0)
    floor = roundoff_floor(res[0]) if math.isfinite(res[0]) else ROUNDOFF_ABS
    reached = np.logical_or.accumulate(res <= floor)
    judged = ~reached[:-1]
    fails = judged & ~(res[1:] <= THM1_FACTOR * res[:-1] * (1.0 + CONTRACTION_RTOL))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = res[1:] / res[:-1]
    ratios = np.where(np.isfinite(ratios), ratios, np.inf)
    return judged, fails, ratios


def drift_bound(res0, lam):
    """‖W_L(t) − W_L(0)‖_F ≤ 1.5·‖f_0 − y‖/√λ_min(G_0): each Gauss-Newton step moves ‖J_tᵀ(J_tJ_tᵀ)^{-1}r_t‖ ≤
    ‖r_t‖/√λ_min(G_t), the residuals shrink by ⅓ (Σ_k 3^{−k} = 3/2) and G_t stays near G_0. Order (inferred
    from the proof of Theorem 1, which keeps λ_min(G_t) ≥ λ/2 with constants not given)."""
    return DRIFT_FACTOR * _real("res0", res0, lo=0.0) / math.sqrt(_lam(lam))


def step_rank_bound(n):
    """rank ΔW = rank(−Σ_i g_i u_i v_iᵀ) ≤ n. Exact (by construction)."""
    return int(_n(n))


def delta_rank_bound(form, rank_max, n):
    """The rank of the stored factorisation of W_L(t) − W_L(0): ≤ rank_max + n for "factors" (n new columns
    per step, folded once past rank_max), ≤ n for "pv" (Σ_i p_i v_iᵀ, the v_i = h_{i,L−1} are fixed).
    Exact (by construction). ValueError for "dense" (no factorisation) or another form."""
    if form == "factors":
        return int(_real("rank_max", rank_max, lo=0.0)) + int(_n(n))
    if form == "pv":
        return int(_n(n))
    raise ValueError(f"solver_delta_form {form!r} stores no low-rank factorisation (factors | pv)")


def identity_tolerance(step_fro_sq, gGg, w_norm=None):
    """Tolerance of ‖ΔW‖_F² = gᵀG_t g per step: IDENTITY_RTOL·max(|a|, |b|) + IDENTITY_ROUNDOFF·‖W_L‖_F·‖ΔW‖_F
    (the second term only when an estimate `w_norm` of ‖W_L‖_F is given; ‖ΔW‖_F = √max(|a|, |b|))."""
    a = np.abs(np.asarray(step_fro_sq, dtype=np.float64))
    b = np.abs(np.asarray(gGg, dtype=np.float64))
    big = np.maximum(a, b)
    tol = IDENTITY_RTOL * big
    if w_norm is not None:
        tol = tol + IDENTITY_ROUNDOFF * np.asarray(w_norm, dtype=np.float64) * np.sqrt(big)
    return tol


def identity_judgement(step_fro_sq, gGg, w_norm=None):
    """The identity ‖ΔW‖_F² = gᵀG_t g judged step by step: (judged, fails, excess) over the steps, judged where
    both are finite, fails where |a − b| > tolerance, excess = |a − b|/tolerance (0 where both are 0)."""
    a = np.asarray(step_fro_sq, dtype=np.float64).reshape(-1)
    b = np.asarray(gGg, dtype=np.float64).reshape(-1)
    k = min(a.size, b.size)
    a, b = a[:k], b[:k]
    judged = np.isfinite(a) & np.isfinite(b)
    tol = identity_tolerance(a, b, w_norm)
    diff = np.abs(a - b)
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.where(tol > 0, diff / tol, np.where(diff > 0, np.inf, 0.0))
    excess = np.where(judged, excess, np.nan)
    fails = judged & (diff > tol)
    return judged, fails, excess


# --------------------------------------------------------------------------- bounds of a trace
# Each takes a trace's attrs mapping (KeyError when an attr is missing, ValueError outside the formula's
# domain). `validate` and the figures read every bound value through these.


def text_attr(attrs, key, default=None):
    """A string attr (bytes decoded), or `default` when absent."""
    v = attrs.get(key, default)
    return v.decode() if isinstance(v, bytes) else (None if v is None else str(v))


def threshold_of(attrs):
    """t of the run: attr threshold_t, else √(2α ln m) from attrs m, alpha."""
    if "threshold_t" in attrs:
        return _t(attrs["threshold_t"])
    return threshold(attrs["m"], attrs["alpha"])


def sparsity_bound_of(attrs):
    """m^{1−α}."""
    return sparsity_bound(attrs["m"], attrs["alpha"])


def expected_active_of(attrs):
    """m·Q(t) with the run's t."""
    return expected_active(attrs["m"], threshold_of(attrs))


def expected_active_bound_of(attrs):
    """m^{1−α}/(t√(2π)) (Mills' ratio)."""
    return expected_active_bound(attrs["m"], attrs["alpha"])


def threshold_mismatch(attrs):
    """None when the run's t is √(2α ln m) (within INIT_RTOL), else a sentence saying it is not."""
    t, want = threshold_of(attrs), threshold(attrs["m"], attrs["alpha"])
    if abs(t - want) <= INIT_RTOL * max(want, 1.0):
        return None
    return (f"the run's threshold t = {t:.6g} (attr threshold_t) is not √(2α ln m) = {want:.6g}: the bound m^{{1−α}} "
            "is for b chosen from α")


def drift_bound_of(attrs, res0):
    """1.5·‖f_0 − y‖/√λ with λ = λ_min(G_0) of the trace (attr lambda)."""
    return drift_bound(res0, attrs["lambda"])


def step_rank_bound_of(attrs):
    """n."""
    return step_rank_bound(attrs["n"])


def delta_rank_bound_of(attrs):
    """rank_max + n (factors) or n (pv), from attrs solver_delta_form, solver_rank_max, n."""
    form = text_attr(attrs, "solver_delta_form")
    if form is None:
        raise KeyError("solver_delta_form")
    return delta_rank_bound(form, attrs["solver_rank_max"] if form == "factors" else 0, attrs["n"])


def eps_sketch_target_of(attrs):
    """ε the solver aimed its sketch at (attr solver_eps_sketch)."""
    return _real("solver_eps_sketch", attrs["solver_eps_sketch"], lo=0.0, lo_open=True)


def weight_norm_estimate_of(attrs, drift=0.0):
    """An upper estimate of ‖W_L(t)‖_F: W_NORM_SLACK·m·σ_w (≥ ‖W_L(0)‖_F w.h.p.) + ‖W_L(t) − W_L(0)‖_F."""
    return W_NORM_SLACK * _m(attrs["m"]) * _real("sigma_w", attrs["sigma_w"], lo=0.0, lo_open=True) + float(drift)


def is_gradient_run(attrs):
    """True for a gradient-descent run (solver_direction = gradient or solver_step = gd), False for a Gauss-Newton
    run, None when the trace records neither."""
    direction, step = direction_of(attrs), text_attr(attrs, "solver_step")
    if direction is None and step is None:
        return None
    return direction == "gradient" or step == "gd"


def width_premise(attrs):
    """Theorem 1's width premise m ≥ poly(n, L, 1/λ) as a Premise: the conference version gives no polynomial,
    so the run cannot decide it (a failing conclusion is then "premise not checkable", never "fails")."""
    parts = [f"{label} = {int(attrs[key]):,}" for key, label in (("n", "n"), ("layers", "L")) if key in attrs]
    if "lambda" in attrs:
        parts.append(f"λ = {float(attrs['lambda']):.4g}")
    return unknown_constant("m ≥ poly(n, L, 1/λ)", attrs.get("m", float("nan")),
                            why="the conference version gives no polynomial" + (f"; {', '.join(parts)}" if parts else ""))


def premise_note(attrs):
    """Theorem 1's width premise, stated with this run's numbers (it cannot be checked)."""
    parts = []
    for key, label in (("m", "m"), ("n", "n"), ("layers", "L")):
        if key in attrs:
            parts.append(f"{label} = {int(attrs[key]):,}")
    if "lambda" in attrs:
        parts.append(f"λ = λ_min(G_0) = {float(attrs['lambda']):.4g}")
    run = f" (this run: {', '.join(parts)})" if parts else ""
    return ("premise m ≥ poly(n, L, 1/λ): the conference version gives no constant, so the width premise is not "
            f"checked{run}")


# --------------------------------------------------------------------------- the checks
# Read from the trace (attrs, /trace rows, /data/active_per_layer); nothing is rerun. Which records apply
# follows from what the trace records: solver_direction / solver_step (gradient or Gauss-Newton, exact or
# sketched), solver_delta_form, and which metrics are present.

_CHECKS = []


_check = registrar(_CHECKS)


def _float_rows(tr, name):
    """A metric's rows as float64 with −1 (an integer metric's "not computed") turned into NaN; or None."""
    if name not in tr:
        return None
    arr = np.asarray(tr[name])
    out = arr.astype(np.float64)
    if arr.dtype.kind in "iu":
        out[arr < 0] = np.nan
    return out


def residuals(tr):
    """‖f_t − y‖ per state row (residual_norm, else √(2·loss)), or None."""
    res = _float_rows(tr, "residual_norm")
    if res is None:
        loss = _float_rows(tr, "loss")
        res = None if loss is None else np.sqrt(2.0 * loss)
    return res


def active_per_layer(tr):
    """/data/active_per_layer as float64 (L−1, n): ‖h_{i,ℓ}‖₀ for ℓ = 1..L−1; or None."""
    if "data/active_per_layer" not in tr:
        return None
    arr = np.asarray(tr["data/active_per_layer"], dtype=np.float64)
    return arr.reshape(1, -1) if arr.ndim == 1 else arr


def _missing_attrs(c, attrs, *keys):
    missing = [k for k in keys if k not in attrs]
    return c.result(NA, note=f"the trace does not record {', '.join(missing)}") if missing else None


def _steps_of(mask):
    """The step numbers (1-based: step s goes from state s−1 to s) where mask is True."""
    return np.flatnonzero(mask) + 1


@_check("s004_thm1", "Theorem 1", "inequality",
        "‖f_{t+1} − y‖₂ ≤ ⅓‖f_t − y‖₂ at every Gauss-Newton step (exact or sketched)",
        measured="worst ‖f_{t+1}−y‖/‖f_t−y‖", bound="⅓")
def _thm1(tr, c):
    """Gauss-Newton runs; measured = the worst per-step ratio over the judged steps, bound ⅓."""
    a = tr.attrs
    gradient = is_gradient_run(a)
    if gradient is None:
        return c.result(NA, note="the trace does not record its step direction (attrs solver_direction, solver_step): "
                                 "cannot tell whether its steps are Gauss-Newton steps, which Theorem 1 is about")
    if gradient:
        return c.result(NA, note=f"Theorem 1 is about Gauss-Newton steps; this run took gradient steps "
                                 f"(solver_direction = {direction_of(a)}, solver_step = {text_attr(a, 'solver_step')}), "
                                 "for which the paper claims no ⅓ contraction")
    res = residuals(tr)
    if res is None:
        return c.result(NA, note="no 'residual_norm' or 'loss' metric in the trace")
    premise = premise_note(a)
    if res.size < 2:
        return c.result(NA, note="no iteration in the trace; " + premise)
    if not math.isfinite(res[0]):
        return c.result(NA, note="no residual at t = 0; " + premise)
    if res[0] <= ROUNDOFF_ABS:
        return c.result(NA, note=f"‖f_0 − y‖ = {res[0]:.3g} is already at round-off; " + premise)
    judged, fails, ratios = contraction_judgement(res)
    worst = float(np.max(ratios[judged])) if judged.any() else 0.0
    first = int(_steps_of(fails)[0]) if fails.any() else -1
    skipped = int((~judged).sum())
    direction = direction_of(a)
    note = (f"measured = worst ratio ‖f_{{t+1}}−y‖/‖f_t−y‖ over {int(judged.sum())} judged steps of {judged.size}; "
            f"not judged: {skipped} step(s) from a residual at round-off (≤ {ROUNDOFF:g}·‖f_0−y‖ or ≤ "
            f"{ROUNDOFF_ABS:g})")
    if direction == "sketched":
        note += (f"; sketched steps (solver_sketch = {text_attr(a, 'solver_sketch', '?')}, "
                 f"s = {a.get('solver_sketch_rows', '?')}): covered by the theorem given the sketch's accuracy "
                 "(see s004_sketch_eps)")
    if fails.any():
        steps = _steps_of(fails)
        note = (f"{steps.size} step(s) contract by less than ⅓ (first: step {first}, ratio "
                f"{ratios[first - 1]:.4g}); " + note)
        return c.result(FAILS, worst, THM1_FACTOR, first, note=note, premises=[width_premise(a)])
    return c.result(HOLDS, worst, THM1_FACTOR, note=note, premises=[width_premise(a)])


@_check("s004_sparsity", "Sparsity (b from α)", "inequality",
        "‖h_{i,ℓ}‖₀ ≤ m^{1−α} for every layer ℓ = 1..L and point i (layer L at every iteration)",
        measured="max ‖h_{i,ℓ}‖₀", bound="m^{1−α}")
def _sparsity(tr, c):
    """measured = the largest active count over the layers, points and (layer L) rows, bound m^{1−α}."""
    a = tr.attrs
    na = _missing_attrs(c, a, "m", "alpha")
    if na is not None:
        return na
    try:
        mismatch = threshold_mismatch(a)
    except ValueError as e:
        return c.result(NA, note=f"outside the bound's domain: {e}")
    if mismatch:
        return c.result(NA, note=mismatch)
    low = active_per_layer(tr)
    fire = _float_rows(tr, "fire_count")
    if fire is not None and fire.ndim != 2:
        fire = None
    if low is None and fire is None:
        return c.result(NA, note="neither /data/active_per_layer (layers 1..L−1) nor 'fire_count' (layer L) in "
                                 "the trace")
    m, alpha = float(a["m"]), float(a["alpha"])
    bound = sparsity_bound(m, alpha)
    t = threshold_of(a)
    parts, maxima, first = [], [], -1
    if low is not None:
        for ell, row in enumerate(low, start=1):
            parts.append(f"layer {ell}: max {np.nanmax(row):.0f}, mean {np.nanmean(row):.1f}")
        maxima.append(float(np.nanmax(low)))
        if np.any(low > bound):
            first = 0
    else:
        parts.append("no /data/active_per_layer: layers 1..L−1 not checked")
    L = int(a["layers"]) if "layers" in a else None
    if fire is not None:
        ok = np.all(np.isfinite(fire), axis=1)
        if ok.any():
            rows = np.flatnonzero(ok)
            per_row = fire[ok].max(axis=1)
            label = f"layer {L}" if L is not None else "layer L"
            parts.append(f"{label} (trained): max {per_row.max():.0f} over {rows.size} rows "
                         f"(at t = 0: max {fire[rows[0]].max():.0f}, mean {fire[rows[0]].mean():.1f})")
            maxima.append(float(per_row.max()))
            bad = rows[per_row > bound]
            if first < 0 and bad.size:
                first = int(bad[0])
        else:
            parts.append("'fire_count' never computed: layer L not checked")
    else:
        parts.append("no 'fire_count': layer L not checked")
    if not maxima:
        return c.result(NA, note="; ".join(parts))
    if low is not None and L is not None and low.shape[0] != L - 1:
        parts.append(f"/data/active_per_layer has {low.shape[0]} rows, the trace says L − 1 = {L - 1}")
    measured = max(maxima)
    mean = expected_active(m, t)
    parts.append(f"expected count m·Q(t) = {mean:.4g} (t = {t:.4g}); measured max / expectation = "
                 f"{measured / mean:.3g}" if mean > 0 else f"expected count m·Q(t) = 0 (t = {t:.4g})")
    if t > 0:
        parts.append(f"Mills' ratio: m·Q(t) ≤ m^{{1−α}}/(t√(2π)) = {expected_active_bound(m, alpha):.4g}")
        parts.append(f"deviations of ‖h_{{i,ℓ}}‖² from 1 grow ≈ {norm_gain(t):.3g}× per layer (norm_gain), so the "
                     "deeper layers' counts spread more")
    parts.append(f"initialisation: {text_attr(a, 'init_deviation', INIT_DEVIATION)}")
    return c.result(FAILS if first >= 0 else HOLDS, measured, bound, first, note="; ".join(parts),
                    premises=[width_premise(a)])


@_check("s004_init", "initialisation (project's, not the paper's)", "identity",
        "t = √(2α ln m), κ = (1 + t²)Q(t) − tφ(t), σ_w = 1/√(m·κ), b = t·σ_w (recorded attrs vs formulas)",
        measured="worst relative deviation", bound="tolerance")
def _init_scaling(tr, c):
    """measured = the worst relative deviation of the recorded constants from their formulas, bound INIT_RTOL."""
    a = tr.attrs
    na = _missing_attrs(c, a, "m", "alpha", "threshold_t", "kappa", "sigma_w", "b")
    if na is not None:
        return na
    try:
        want = initialisation(a["m"], a["alpha"])
    except ValueError as e:
        return c.result(NA, note=f"outside the formulas' domain: {e}")
    devs = {}
    for key, v in want.items():
        got = float(a[key])
        devs[key] = abs(got - v) / max(abs(v), 1e-300) if v != 0 else abs(got)
    worst_key = max(devs, key=devs.get)
    worst = devs[worst_key]
    note = (", ".join(f"{k} = {float(a[k]):.6g} (formula {want[k]:.6g})" for k in want)
            + f"; worst relative deviation {worst:.3g} ({worst_key}); expected active per layer m·Q(t) = "
            f"{expected_active(float(a['m']), want['threshold_t']):.4g}; "
            f"initialisation: {text_attr(a, 'init_deviation', INIT_DEVIATION)}")
    return c.result(FAILS if worst > INIT_RTOL else HOLDS, worst, INIT_RTOL, note=note)


@_check("s004_step_rank", "derived (ΔW = −J_tᵀg)", "inequality",
        "rank ΔW = rank(−Σ_i g_i u_i v_iᵀ) ≤ n at every step", measured="max rank ΔW", bound="n")
def _step_rank(tr, c):
    a = tr.attrs
    r = _float_rows(tr, "step_rank")
    if r is None:
        return c.result(NA, note="no 'step_rank' metric in the trace")
    na = _missing_attrs(c, a, "n")
    if na is not None:
        return na
    ok = np.isfinite(r)
    if not ok.any():
        return c.result(NA, note="'step_rank' was never computed")
    bound = step_rank_bound_of(a)
    bad = ok & (r > bound)
    first = int(_steps_of(bad)[0]) if bad.any() else -1
    return c.result(FAILS if bad.any() else HOLDS, float(np.max(r[ok])), bound, first,
                    note=f"measured = max rank over {int(ok.sum())} steps; exact by construction (n rank-one terms "
                         "u_i v_iᵀ)")


@_check("s004_delta_rank", "low-rank maintenance of ΔW", "inequality",
        "rank of the stored factorisation of W_L(t) − W_L(0) ≤ rank_max + n (factors) or ≤ n (pv)",
        measured="max stored rank", bound="its bound")
def _delta_rank(tr, c):
    a = tr.attrs
    form = text_attr(a, "solver_delta_form")
    if form is None:
        return c.result(NA, note="the trace does not record how W_L(t) − W_L(0) is stored (attr solver_delta_form)")
    if form not in ("factors", "pv"):
        return c.result(NA, note=f"solver_delta_form = {form}: W_L is stored without a low-rank factorisation")
    r = _float_rows(tr, "delta_rank")
    if r is None:
        return c.result(NA, note="no 'delta_rank' metric in the trace")
    na = _missing_attrs(c, a, "n", *(("solver_rank_max",) if form == "factors" else ()))
    if na is not None:
        return na
    ok = np.isfinite(r)
    if not ok.any():
        return c.result(NA, note="'delta_rank' was never computed")
    bound = delta_rank_bound_of(a)
    bad = ok & (r > bound)
    first = int(_steps_of(bad)[0]) if bad.any() else -1
    note = (f"measured = max stored rank over {int(ok.sum())} steps; form {form}: bound "
            + (f"rank_max + n = {int(a['solver_rank_max'])} + {int(a['n'])}" if form == "factors"
               else f"n = {int(a['n'])} (ΔW = Σ_i p_i v_iᵀ with fixed v_i)"))
    folds = _float_rows(tr, "folds")
    if folds is not None and np.isfinite(folds).any():
        note += f"; folds: {np.nansum(folds):.0f} (in {int(np.sum(folds > 0))} steps)"
    return c.result(FAILS if bad.any() else HOLDS, float(np.max(r[ok])), bound, first, note=note)


@_check("s004_sketch_eps", "sketching (s = Õ(n) rows)", "order",
        "G̃ from the sketch: eigenvalues of G^{−1/2}G̃G^{−1/2} in [1 − ε, 1 + ε]; measured ε vs the solver's target",
        measured="max ε", bound="target ε")
def _sketch_eps(tr, c):
    """Sketched runs only; measured = the largest ε over the measured steps, bound = solver_eps_sketch."""
    a = tr.attrs
    direction = direction_of(a)
    if direction is None:
        return c.result(NA, note="the trace does not record its step direction (attr solver_direction)")
    if direction != "sketched":
        return c.result(NA, note=f"no sketch in this run (solver_direction = {direction}, solver_sketch = "
                                 f"{text_attr(a, 'solver_sketch', '?')})")
    eps = _float_rows(tr, "sketch_eps")
    if eps is None or not np.isfinite(eps).any():
        return c.result(NA, note="sketched run, but the distortion ε was not measured (no finite 'sketch_eps'; "
                                 "set metrics.sketch_distortion = true)")
    ok = np.isfinite(eps)
    e = eps[ok]
    worst = float(e.max())
    parts = [f"measured = max ε over {int(ok.sum())} measured steps (median {np.median(e):.3g}, at step "
             f"{int(_steps_of(ok)[int(np.argmax(e))])})"]
    s = a.get("solver_sketch_rows")
    rows = _float_rows(tr, "sketch_rows")
    if (s is None or not s) and rows is not None and np.isfinite(rows).any():
        s = int(np.nanmax(rows))
    if s:
        n = a.get("n")
        parts.append(f"sketch {text_attr(a, 'solver_sketch', '?')} with s = {int(s)} rows"
                     + (f" (s/n = {int(s) / int(n):.3g})" if n else ""))
    parts.append("s = Õ(n) hides its constants, so ε is compared with the target only as a ratio")
    try:
        target = eps_sketch_target_of(a)
    except KeyError:
        target = None
        parts.append("the trace does not record the solver's target (attr solver_eps_sketch): no ratio")
    except ValueError as e:
        target = None
        parts.append(f"solver_eps_sketch unusable: {e}")
    if target is not None:
        above = int(np.sum(e > target))
        parts.append(f"target ε = {target:g} (solver_eps_sketch); {above} of {e.size} steps above it")
    return c.result(RATIO, worst, target, note="; ".join(parts))


@_check("s004_identity", "derived (‖J_tᵀg‖² = gᵀJ_tJ_tᵀg)", "identity",
        "‖W_L(t+1) − W_L(t)‖_F² = gᵀG_t g at every step", measured="worst deviation", bound="tolerance")
def _step_identity(tr, c):
    """measured = the worst |‖ΔW‖_F² − gᵀG_t g| / tolerance over the steps, bound 1."""
    a = tr.attrs
    fro, gGg = _float_rows(tr, "step_fro_sq"), _float_rows(tr, "gGg")
    if fro is None or gGg is None:
        missing = [name for name, v in (("step_fro_sq", fro), ("gGg", gGg)) if v is None]
        return c.result(NA, note=f"no {' or '.join(repr(x) for x in missing)} metric in the trace")
    drift = _float_rows(tr, "drift_fro")
    dmax = float(np.nanmax(drift)) if drift is not None and np.isfinite(drift).any() else 0.0
    try:
        w_norm = weight_norm_estimate_of(a, dmax)
        floor_note = (f"round-off floor {IDENTITY_ROUNDOFF:g}·‖W_L‖_F·‖ΔW‖_F with ‖W_L‖_F ≤ {W_NORM_SLACK:g}·m·σ_w + "
                      f"max drift_fro = {w_norm:.4g}")
    except (KeyError, ValueError):
        w_norm = None
        floor_note = "no m, sigma_w in the trace: no round-off floor (relative tolerance only)"
    judged, fails, excess = identity_judgement(fro, gGg, w_norm)
    if not judged.any():
        return c.result(NA, note="'step_fro_sq' and 'gGg' never both computed at a step")
    a_, b_ = fro[:judged.size], gGg[:judged.size]
    big = np.maximum(np.abs(a_), np.abs(b_))
    rel = np.full(judged.size, -1.0)
    rel[judged] = np.where(big[judged] > 0, np.abs(a_ - b_)[judged] / np.where(big[judged] > 0, big[judged], 1.0), 0.0)
    j = int(np.argmax(rel))
    worst = float(np.nanmax(excess))
    first = int(_steps_of(fails)[0]) if fails.any() else -1
    note = (f"measured = worst |‖ΔW‖_F² − gᵀG_t g| / tolerance over {int(judged.sum())} steps; tolerance = "
            f"{IDENTITY_RTOL:g}·max(‖ΔW‖_F², gᵀG_t g) + {floor_note}; worst relative deviation {rel[j]:.3g} at step "
            f"{j + 1} (‖ΔW‖_F² = {a_[j]:.6g}, gᵀG_t g = {b_[j]:.6g})")
    return c.result(FAILS if fails.any() else HOLDS, worst, 1.0, first, note=note)


@_check("s004_drift", "derived (proof of Theorem 1)", "order",
        "‖W_L(t) − W_L(0)‖_F ≤ 1.5·‖f_0 − y‖₂/√λ_min(G_0): max_t drift_fro / bound",
        measured="max_t ‖W_L(t) − W_L(0)‖_F", bound="1.5·‖f_0 − y‖/√λ")
def _drift(tr, c):
    a = tr.attrs
    gradient = is_gradient_run(a)
    if gradient is None:
        return c.result(NA, note="the trace does not record its step direction (attrs solver_direction, solver_step)")
    if gradient:
        return c.result(NA, note="the bound sums Gauss-Newton steps ‖J_tᵀ(J_tJ_tᵀ)^{-1}r_t‖ ≤ ‖r_t‖/√λ; this run took "
                                 "gradient steps")
    drift = _float_rows(tr, "drift_fro")
    if drift is None or not np.isfinite(drift).any():
        return c.result(NA, note="no 'drift_fro' metric in the trace (or never computed)")
    res = residuals(tr)
    if res is None or not res.size or not math.isfinite(res[0]):
        return c.result(NA, note="no residual at t = 0 ('residual_norm' or 'loss')")
    if "lambda" not in a:
        return c.result(NA, note="the trace does not record λ = λ_min(G_0) (attr lambda)")
    try:
        bound = drift_bound_of(a, res[0])
    except ValueError as e:
        return c.result(NA, note=f"outside the bound's domain: {e}")
    ok = np.isfinite(drift)
    t = int(np.flatnonzero(ok)[int(np.argmax(drift[ok]))])
    measured = float(drift[t])
    parts = [f"measured = max_t ‖W_L(t) − W_L(0)‖_F (at t = {t}, over {int(ok.sum())} measured rows); bound = "
             f"{DRIFT_FACTOR:g}·‖f_0−y‖/√λ with ‖f_0−y‖ = {res[0]:.4g}, λ = {float(a['lambda']):.4g}",
             "order: the constant 1.5 = Σ_k 3^{−k} assumes λ_min(G_t) ≈ λ_min(G_0) (the proof keeps it ≥ λ/2, which "
             "would make the constant 1.5·√2)"]
    src = text_attr(a, "lambda_source")
    if src is not None and src != "G_0":
        parts.append(f"λ is from '{src}' (attr lambda_source), not λ_min(G_0)")
    lmin = _float_rows(tr, "lambda_min")
    if lmin is not None and np.isfinite(lmin).any() and float(a["lambda"]) > 0:
        parts.append(f"min_t λ_min(G_t)/λ = {np.nanmin(lmin) / float(a['lambda']):.3g}")
    return c.result(RATIO, measured, bound, note="; ".join(parts))


#: the Check records of seed 004, in report order
CHECKS = tuple(_CHECKS)
del _CHECKS


# --------------------------------------------------------------------------- sweeps

#: the summary columns this paper adds (sweep_columns' keys): string statuses first, then numbers
SWEEP_STATUS_COLUMNS = ("s004_contraction",)
SWEEP_NUMBER_COLUMNS = ("s004_contraction_worst", "s004_sparsity_bound", "s004_expected_active",
                        "s004_sparsity_ratio", "s004_drift_ratio", "s004_sketch_eps_ratio")


def sweep_columns(attrs, results=None):
    """This paper's columns of a sweep's summary row.

    From the attrs: "s004_sparsity_bound" (m^{1−α}) and "s004_expected_active" (m·Q(t)) when computable.
    From the validation results (`results`: the `validate` results of the point's trace): "s004_contraction"
    (the status of Theorem 1's record), "s004_contraction_worst" (its worst per-step ratio; ⅓ is the bound),
    "s004_sparsity_ratio" (max active count / m^{1−α}), "s004_drift_ratio" (max drift_fro / its bound) and
    "s004_sketch_eps_ratio" (max ε / solver_eps_sketch); NaN where the record did not apply."""
    out = {}
    try:
        out["s004_sparsity_bound"] = sparsity_bound_of(attrs)
        out["s004_expected_active"] = expected_active_of(attrs)
    except (KeyError, TypeError, ValueError):
        pass
    if results is not None:
        def get(key, field):
            r = results.get(key) or {}
            if r.get("status") in (None, NA):
                return float("nan")
            v = r.get(field)
            return float(v) if isinstance(v, (int, float)) else float("nan")
        out["s004_contraction"] = (results.get("s004_thm1") or {}).get("status", "")
        out["s004_contraction_worst"] = get("s004_thm1", "measured")
        out["s004_sparsity_ratio"] = get("s004_sparsity", "ratio")
        out["s004_drift_ratio"] = get("s004_drift", "ratio")
        out["s004_sketch_eps_ratio"] = get("s004_sketch_eps", "ratio")
    return out
