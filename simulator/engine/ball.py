"""Lemma 4.3 beyond the trajectory: how large ‖G(W) − G_0‖_F gets over the whole ball around W0.

Seed 002's Lemma 4.3 is a statement for *every* W with max_r ‖w_r − w_r(0)‖ ≤ R (R = R0/√m): there
‖G(W) − G_0‖_F ≤ λ/2. A trajectory visits one path through that ball; this module searches it, to
show whether the trajectory's value is typical or the ball holds much worse points (docs/theory.md
§2, "Lemma 4.3 over the ball").

With unit inputs a move of w_r by δ_r (‖δ_r‖ ≤ R) shifts its leaves ⟨w_r, x_i⟩ by ⟨δ_r, x_i⟩ ∈ [−R, R],
and G(W) depends on W only through which leaves exceed b. Two kinds of W are tried:
- random: δ_r = R·z_r/‖z_r‖ with z_r standard normal, per neuron, `samples` times;
- adversarial (cheap, deterministic): for each neuron the points within R of the threshold
  (the only ones whose activation can change) are pushed across it, δ_r ∝ Σ_i c_i x_i scaled to
  length R, with c_i = −sign(⟨w_r(0), x_i⟩ − b) ("flip"), or +1 on the inactive ones ("on"), or −1
  on the active ones ("off").
Costs O(m·n·d) per W, in blocks of neurons (no m × n array is held).
"""

import math

import numpy as np

_BLOCK = 8192


def _gram_counts(W0, X, b, shift, n):
    """Σ_r F_r F_rᵀ (n × n counts) for the leaves of W0 shifted by `shift(lo, hi, U0)` (blockwise)."""
    C = np.zeros((n, n))
    for lo in range(0, W0.shape[0], _BLOCK):
        U0 = W0[lo:lo + _BLOCK] @ X.T  # (block, n)
        F = ((U0 + shift(lo, U0)) > b).astype(np.float64)
        C += F.T @ F
    return C


def gram(W0, X, b, shift=None):
    """G(W) = (X Xᵀ) ∘ (F Fᵀ)/m for W = W0 + (the per-neuron moves that `shift` gives as leaf shifts)."""
    n, m = X.shape[0], W0.shape[0]
    C = _gram_counts(W0, X, b, shift or (lambda lo, U0: 0.0), n)
    return (X @ X.T) * C / m


def adversarial_moves(U0, X, b, R, rule):
    """Per neuron (rows of its leaves U0 = W0 Xᵀ) a move δ_r of length R (0 if no point is within R of b)
    pushing its near-threshold points across: rule "flip" (every near point), "on" (the inactive ones
    up) or "off" (the active ones down)."""
    near = np.abs(U0 - b) <= R  # only these can change
    if rule == "flip":
        c = np.where(near, -np.sign(U0 - b), 0.0)
    elif rule == "on":
        c = np.where(near & (U0 <= b), 1.0, 0.0)
    elif rule == "off":
        c = np.where(near & (U0 > b), -1.0, 0.0)
    else:
        raise ValueError(f"rule: unknown adversarial rule {rule!r} (flip | on | off)")
    D = c @ X  # δ_r ∝ Σ_i c_ri x_i
    norms = np.linalg.norm(D, axis=1, keepdims=True)
    return np.divide(D * R, norms, out=np.zeros_like(D), where=norms > 0)


def ball_search(W0, X, b, R, samples=8, seed=0):
    """max ‖G(W) − G_0‖_F over `samples` random W on the sphere max_r ‖w_r − w_r(0)‖ = R, and over the
    three adversarial W. Returns {"random": [...], "random_max", "adversarial": {name: value},
    "adversarial_max"}."""
    W0 = np.asarray(W0, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    G0 = gram(W0, X, b)
    rng = np.random.default_rng(seed)
    randoms = []
    for _ in range(samples):
        def shift(lo, U0):
            Z = rng.standard_normal((U0.shape[0], X.shape[1]))
            Z *= R / np.linalg.norm(Z, axis=1, keepdims=True)
            return Z @ X.T
        randoms.append(float(np.linalg.norm(gram(W0, X, b, shift) - G0)))

    def adversarial(rule):
        def shift(lo, U0):
            return adversarial_moves(U0, X, b, R, rule) @ X.T
        return float(np.linalg.norm(gram(W0, X, b, shift) - G0))

    adv = {rule: adversarial(rule) for rule in ("flip", "on", "off")}
    return {"random": randoms, "random_max": max(randoms) if randoms else math.nan, "adversarial": adv,
            "adversarial_max": max(adv.values())}


def search_trace(path, samples=8, seed=0):
    """The search for the problem a two-layer trace ran (rebuilt from its resolved scenario, so W0 is the
    run's own), beside the trajectory's largest ‖G_t − G_0‖_F and the bound λ/2 at R = R0/√m."""
    from simulator.config import scenario_from_dict
    from simulator.engine.runner import prepare
    from simulator.engine.trace import Trace
    from simulator.theory import seed002

    import tomllib

    with Trace(path) as tr:
        attrs = dict(tr.attrs)
        trajectory = float(np.nanmax(tr["gram_dev_fro"])) if "gram_dev_fro" in tr else math.nan
    if attrs.get("model", "two-layer") != "two-layer":
        raise ValueError(f"{path}: the ball search is for two-layer traces (Lemma 4.3 of seed 002)")
    scenario = scenario_from_dict(tomllib.loads(attrs["scenario_toml"]))
    _, problem, _, _ = prepare(scenario)
    R = seed002.drift_radius_of(attrs)
    out = ball_search(problem.W0, problem.X, problem.b, R, samples=samples, seed=seed)
    out.update(R=R, bound=seed002.lemma_4_3_bound_of(attrs), trajectory_max=trajectory)
    return out
