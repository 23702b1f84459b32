"""engine/ball.py: Lemma 4.3's ‖G(W) − G_0‖_F searched over the ball around W0, not only the trajectory."""

import numpy as np
import pytest
from naive import naive_fire_sets, naive_leaves

from simulator.engine import ball


def small(m=300, n=6, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return rng.standard_normal((m, d)), X, 0.4


def naive_gram(W, X, b):
    F = np.zeros((X.shape[0], W.shape[0]))
    for i, S in enumerate(naive_fire_sets(naive_leaves(W, X), b)):
        F[i, S] = 1.0
    return (X @ X.T) * (F @ F.T) / W.shape[0]


def test_gram_of_shifted_leaves_equals_the_gram_of_the_moved_weights():
    W0, X, b = small()
    delta = np.random.default_rng(1).standard_normal(W0.shape) * 0.3
    G = ball.gram(W0, X, b, lambda lo, U0: delta[lo:lo + U0.shape[0]] @ X.T)
    assert np.allclose(G, naive_gram(W0 + delta, X, b), rtol=0, atol=1e-14)
    assert np.allclose(ball.gram(W0, X, b), naive_gram(W0, X, b), rtol=0, atol=1e-14)


@pytest.mark.parametrize("rule", ["flip", "on", "off"])
def test_adversarial_moves_stay_in_the_ball_and_cross_the_threshold(rule):
    W0, X, b = small()
    R = 0.2
    U0 = W0 @ X.T
    D = ball.adversarial_moves(U0, X, b, R, rule)
    norms = np.linalg.norm(D, axis=1)
    assert np.all(norms <= R * (1 + 1e-12)) and np.any(norms > 0)
    near = np.abs(U0 - b) <= R
    assert np.all(norms[~near.any(axis=1)] == 0.0)  # a neuron with nothing to flip does not move
    flipped = ((U0 + D @ X.T) > b) != (U0 > b)
    assert flipped.sum() > 0 and not flipped[~near].any()  # only near-threshold activations change


def test_search_is_zero_at_radius_zero_and_grows_with_it():
    W0, X, b = small()
    zero = ball.ball_search(W0, X, b, 0.0, samples=2)
    assert zero["random_max"] == 0.0 and zero["adversarial_max"] == 0.0
    a = ball.ball_search(W0, X, b, 0.05, samples=3, seed=2)
    c = ball.ball_search(W0, X, b, 0.5, samples=3, seed=2)
    assert 0 < a["adversarial_max"] < c["adversarial_max"] and a["random_max"] < c["random_max"]


def test_search_trace_uses_the_runs_own_problem(tmp_path):
    import simulator

    out = simulator.run("sublinear-fast", overrides=["network.m=2048", "data.n=6", "data.d=5"],
                        out=tmp_path / "t.h5")
    res = ball.search_trace(out, samples=2)
    assert res["R"] > 0 and res["bound"] > 0 and np.isfinite(res["trajectory_max"])
    assert res["adversarial_max"] >= 0 and len(res["random"]) == 2


def test_validate_ball_prints_the_search(tmp_path):
    import json

    from click.testing import CliRunner

    import simulator
    from simulator.cli import cli

    out = simulator.run("sublinear-fast", overrides=["network.m=2048", "data.n=6", "data.d=5"], out=tmp_path / "t.h5")
    res = CliRunner().invoke(cli, ["validate", str(out), "--ball", "2"])
    assert res.exit_code == 0, res.output
    assert "Lemma 4.3 over the ball of radius R = R0/sqrt(m)" in res.output and "along the trajectory" in res.output
    res = CliRunner().invoke(cli, ["validate", str(out), "--ball", "2", "--json"])
    doc = json.loads(res.output)
    assert doc["lemma_4_3_ball"]["R"] > 0 and len(doc["lemma_4_3_ball"]["random"]) == 2 and "checks" in doc
