"""W0 has one definition (docs/theory.md §11): every solver reads the rows of the counter-based generator, and a run
that streams W0 (the active-set index) writes the same trace as one that holds it, apart from timings and W0's storage."""

import h5py
import numpy as np
import pytest

import simulator
from simulator.models import two_layer
from simulator.solvers import SOLVER_MODELS

SMALL = ["network.m=65536", "data.n=6", "data.d=5", "stopping.max_iterations=3"]
#: attrs that say when, where and how fast a run went, or how W0 was held: the only ones allowed to differ
VOLATILE = {"created", "finished", "init_seconds", "writer_host", "writer_pid", "w0_held", "_NCProperties"}
TWO_LAYER = [name for name, models in SOLVER_MODELS.items() if "two-layer" in models]
#: the scenario that runs each two-layer solver
SCENARIO = {"gd": "gd", "gauss-newton": "gauss-newton", "bpsw": "bpsw", "sublinear": "sublinear-fast",
            "preprocess": "preprocess-data"}


def _hold_w0(monkeypatch):
    """Make the model materialise W0 and a as soon as the problem exists (a held run)."""
    build = two_layer.build

    def held(*args, **kwargs):
        problem = build(*args, **kwargs)
        problem.W0, problem.a  # noqa: B018  (materialise both)
        return problem

    monkeypatch.setattr(two_layer, "build", held)


def _walk(f):
    """{path: value} of every dataset and every attribute of an HDF5 file."""
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = obj[()]
        for key, value in obj.attrs.items():
            out[f"{name}@{key}"] = value

    for key, value in f.attrs.items():
        out[f"@{key}"] = value
    f.visititems(visit)
    return out


def _same_apart_from_timings(a, b):
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        A, B = _walk(fa), _walk(fb)
    keys = {k for k in A.keys() | B.keys() if k.split("@")[-1] not in VOLATILE and "seconds" not in k}
    assert {k for k in keys if k not in A or k not in B} == set()
    for key in sorted(keys):
        x, y = A[key], B[key]
        if key.endswith("@DIMENSION_LIST") or key.endswith("@REFERENCE_LIST"):
            continue  # HDF5 object references (netCDF dimension scales): where, not what
        if isinstance(x, np.ndarray) and x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), key
        else:
            assert np.array_equal(np.asarray(x), np.asarray(y)), key


#: (scenario, overrides, whether the solver streams W0): every two-layer solver, the active-set index with both
#: leaf updates
RUNS = [("sublinear-fast", ["solver.leaf_update=gram"], True),
        ("sublinear-fast", ["solver.leaf_update=inner-product"], True),
        ("sublinear-fast", ["solver.index=fireset"], False),
        ("quickstart", [], False), ("gd", [], False), ("gauss-newton", [], False), ("bpsw", [], False),
        ("preprocess-data", [], False)]


@pytest.mark.parametrize("scenario, extra, streams", RUNS)
def test_a_streamed_run_writes_the_trace_of_a_held_one(tmp_path, monkeypatch, scenario, extra, streams):
    """Held up front (the model materialises W0 and a as soon as the problem exists) or as the solver goes
    (streamed by the active-set index, materialised on first use by the others): the same trace."""
    over = SMALL + extra + ["metrics.flips=true"]
    lazy = simulator.run(scenario, overrides=over, out=tmp_path / "lazy.h5")
    with h5py.File(lazy, "r") as f:
        assert f.attrs["w0_held"] == (not streams)  # the active-set index never formed W0
    _hold_w0(monkeypatch)
    held = simulator.run(scenario, overrides=over, out=tmp_path / "held.h5")
    with h5py.File(held, "r") as f:
        assert f.attrs["w0_held"]
    _same_apart_from_timings(lazy, held)


@pytest.mark.parametrize("solver", TWO_LAYER)
def test_every_solver_starts_from_the_generators_rows(tmp_path, solver):
    out = simulator.run(SCENARIO[solver], overrides=SMALL, out=tmp_path / f"{solver}.h5")
    with h5py.File(out, "r") as f:
        assert f.attrs["solver"] == solver and f.attrs["status"] == "completed"
        data = f["data"]
        init = two_layer.InitialWeights(int(data.attrs["init_key_w"]), int(data.attrs["init_key_a"]), 65536, 5)
        assert data.attrs["init_generator"] == init.generator
        # stored W0 and a are the generator's rows, whoever held or streamed them
        assert np.array_equal(data["W0"][()], init.dense())
        assert np.array_equal(data["a"][()], init.all_signs())
        ids = np.array([65535, 7, 0, 31337])
        assert np.array_equal(data["W0"][()][ids], init.rows(ids))


def test_runs_of_different_solvers_share_the_start(tmp_path):
    """Same seed, same problem: the state at t = 0 (f0, fire sets, λ) is the same for every two-layer solver."""
    rows = {}
    for solver in ("gd", "gauss-newton", "bpsw", "sublinear"):  # one problem (preprocess-data has seed 001's b)
        out = simulator.run(SCENARIO[solver], overrides=SMALL, out=tmp_path / f"{solver}.h5")
        with h5py.File(out, "r") as f:
            rows[solver] = (f["trace/loss"][0], f["trace/fire_count"][0], f.attrs["lambda"], f.attrs["f0_max_abs"],
                            f.attrs["W0_norm_over_sqrt_m"])
    first = rows["gd"]
    for solver, (loss, counts, lam, f0, norm) in rows.items():
        assert np.array_equal(counts, first[1]) and lam == first[2] and norm == first[4], solver
        # f0 is summed by different algorithms (dense BLAS, fire sets): equal to round-off
        assert loss == pytest.approx(first[0], rel=1e-12) and f0 == pytest.approx(first[3], rel=1e-12), solver


def test_a_large_w0_is_not_stored_but_can_be_regenerated(tmp_path):
    out = simulator.run("sublinear-fast", overrides=SMALL + ["output.store_W0_max=1000"], out=tmp_path / "t.h5")
    with h5py.File(out, "r") as f:
        data = f["data"]
        assert "W0" not in data and "a" not in data and data.attrs["W0_omitted"] and data.attrs["a_omitted"]
        assert list(data.attrs["W0_shape"]) == [65536, 5]
        init = two_layer.InitialWeights(int(data.attrs["init_key_w"]), int(data.attrs["init_key_a"]), 65536, 5)
        moved = f["final/moved_neurons"][()]
    with simulator.Trace(out) as tr:  # the same generator, from the trace itself
        again = two_layer.InitialWeights.of_trace(tr)
        assert (again.key_w, again.key_a, again.m, again.d) == (init.key_w, init.key_a, 65536, 5)
    with h5py.File(out, "r") as f:
        data = f["data"]
        # the moved neurons' final weights, from the regenerated rows and the stored coefficients
        X = data["X"][()]
        W = init.rows(moved) + f["final/coefficients"][()] @ X
        drift = np.linalg.norm(W - init.rows(moved), axis=1)
        assert np.allclose(drift, f["final/moved_drift"][()], rtol=1e-12, atol=1e-15)


def test_the_streamed_solver_holds_nothing_of_size_m():
    from simulator.config import load_scenario
    from simulator.data import make_dataset
    from simulator.solvers import get_solver
    from simulator.streams import streams

    sc = load_scenario("sublinear-fast", overrides=tuple(SMALL))
    rngs = streams(sc.seed)
    X, y = make_dataset("sphere", 6, 5, rngs["data"], labels="gaussian")
    problem = two_layer.build(sc, X, y, rngs)
    s = get_solver("sublinear")(problem, dict(sc.solver.options), lam=None)
    assert s.init().error is None
    for _ in range(2):
        assert s.step().error is None
        s.drift_moved(), s.fire_sets(), s.predictions()
    assert not problem.held and s.W._row is None  # no W0, no neuron → row map of m entries
    k = s.index.K.shape[0]
    assert s.W.moved <= s.W.C.shape[0] and s.W._support[0].shape[0] >= k


def test_of_trace_refuses_what_it_cannot_regenerate(tmp_path):
    out = simulator.run("multilayer", overrides=["network.m=256", "data.n=4", "data.d=4", "stopping.max_iterations=1"],
                        out=tmp_path / "ml.h5")
    with simulator.Trace(out) as tr, pytest.raises(ValueError, match="a multilayer trace, not a two-layer one"):
        two_layer.InitialWeights.of_trace(tr)
    old = simulator.run("gd", overrides=SMALL, out=tmp_path / "gd.h5")
    with h5py.File(old, "a") as f:  # a trace from before W0 was defined by counter has no generator attrs
        for key in ("init_generator", "init_key_w", "init_key_a"):
            del f["data"].attrs[key]
    with simulator.Trace(old) as tr, pytest.raises(ValueError, match="older sequential generator"):
        two_layer.InitialWeights.of_trace(tr)


@pytest.mark.parametrize("m, k", [(1, 0), (1, 1), (10, 0), (10, 10), (7, 1), (1000, 3), (1000, 990), (100003, 12345)])
def test_drift_quantiles_count_the_unmoved_neurons_without_storing_them(m, k):
    from simulator.engine.metrics import quantiles_with_zeros
    from simulator.engine.trace import DRIFT_QUANTILES

    rng = np.random.default_rng(m + k)
    values = rng.random(k) + (rng.random(k) < 0.1)  # positive, some repeated scale
    dense = np.zeros(m)
    dense[rng.choice(m, size=k, replace=False)] = values
    qs = DRIFT_QUANTILES + (0.0, 0.25, 0.75)
    # the same linear interpolation as numpy over the m-vector, bit for bit
    assert np.array_equal(quantiles_with_zeros(values, m, qs), np.quantile(dense, qs))


def test_sorted_distinct_is_unique():
    from simulator.engine.flip_candidates import sorted_distinct

    rng = np.random.default_rng(0)
    for size in (0, 1, 5, 10000):
        ids = rng.integers(0, max(1, size // 3), size=size)
        assert np.array_equal(sorted_distinct(ids), np.unique(ids))


def test_the_passes_over_w0_report_their_progress(monkeypatch):
    import numpy as np

    from simulator.engine import runner
    from simulator.kernels import init_stream

    X = np.eye(4)
    seen = []
    init_stream.active_init(1, 2, X, 1.0, 3 * init_stream.SUB + 5, 4, chunk=init_stream.SUB,
                            progress=lambda done, total: seen.append((done, total)))
    m = 3 * init_stream.SUB + 5
    assert seen == [(init_stream.SUB * k, m) for k in (1, 2, 3)] + [(m, m)]  # after every chunk, to the end
    # the runner's bar is wired to the problem's initial weights during the solver's init only
    calls = []

    class Bar:
        n = 0

        def update(self, k):
            calls.append(k)
            self.n += k

        def close(self):
            calls.append("closed")

    monkeypatch.setattr(runner, "_progress", lambda *a, **k: Bar())
    problem = two_layer.make_problem(X, np.zeros(4), 2 * init_stream.SUB, 1.0,
                                     __import__("simulator.streams", fromlist=["streams"]).streams(0))
    with runner._init_progress(problem, "t", quiet=True):
        assert problem.init.progress is not None
        problem.init.dense()
    assert problem.init.progress is None and calls[-1] == "closed" and sum(calls[:-1]) == 2 * init_stream.SUB
