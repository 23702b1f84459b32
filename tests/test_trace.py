"""Trace files: round trip, overwrite refusal, schema checks, crash safety (SIGKILL)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from simulator.engine.trace import (
    DRIFT_QUANTILES,
    METRICS,
    SCHEMA_VERSION,
    Trace,
    TraceError,
    TraceWriter,
    write_validation,
)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CHILD = os.path.join(HERE, "_trace_kill_child.py")

DESIGN_METRICS = {
    "loss": ("state", ()), "residual_norm": ("state", ()), "fire_count": ("state", ("n",)),
    "union_fire": ("state", ()), "flips": ("state", ("n",)), "drift_max": ("state", ()),
    "drift_quantiles": ("state", (5,)), "moved_fraction": ("state", ()),
    "lambda_min": ("state", ()), "lambda_max": ("state", ()), "gram_dev_fro": ("state", ()),
    "eigvals": ("state", ("n",)), "reg_iterations": ("step", ()), "reg_residual": ("step", ()),
    "sketch_eps": ("step", ()), "phase_seconds": ("step", ("P",)), "step_seconds": ("step", ()),
    "nodes_touched": ("step", ()), "neurons_changed": ("step", ()),
}


def _state(t: int, n: int) -> dict:
    return {
        "loss": 0.5 / (t + 1), "residual_norm": 1.0 / np.sqrt(t + 1),
        "fire_count": np.arange(n) + t, "union_fire": 10 + t,
        "flips": np.full(n, t, dtype=np.int64), "drift_max": 0.1 * t,
        "drift_quantiles": np.linspace(0, 0.1 * t, 5), "moved_fraction": min(1.0, 0.1 * t),
        "lambda_min": 0.3, "lambda_max": 3.0, "gram_dev_fro": 0.01 * t,
        "eigvals": np.linspace(0.3, 3.0, n) if t % 2 == 0 else None,
    }


def _step(k: int) -> dict:
    return {"reg_iterations": 3 + k, "reg_residual": 1e-9 * (k + 1), "sketch_eps": 0.25,
            "phase_seconds": [0.001 * (k + 1), 0.002, 0.003], "step_seconds": 0.006 + k,
            "nodes_touched": 100 + k, "neurons_changed": 5 + k}


def _write_run(path, T=6, n=8, *, finish=True, attrs=None):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 3))
    tw = TraceWriter.create(path, attrs=attrs if attrs is not None else
                            {"scenario_name": "tiny", "scenario_toml": 'name = "tiny"\n[data]\nn = 8\n',
                             "seed": 42, "solver": "gd"})
    tw.set_attrs(b=0.5, **{"lambda": 0.125}, delta=0.05, R0=1.5)
    tw.write_data(X=X, y=np.ones(n), a=np.ones(16), W0=rng.standard_normal((16, 3)))
    tw.describe("phase_seconds", phases=["query", "solve", "update"])
    tw.append_state(0, _state(0, n))
    for t in range(1, T + 1):
        tw.append_iteration(t, state=_state(t, n), step=_step(t - 1))
    if finish:
        tw.write_final({"f": np.full(n, 0.5), "W": np.zeros((16, 3))})
        tw.finish("completed")
    return tw, X


# ----------------------------------------------------------------------------- round trip

def test_round_trip_attrs_data_metrics(tmp_path):
    path = tmp_path / "run.h5"
    T, n = 6, 8
    _, X = _write_run(path, T, n)
    assert not [p for p in os.listdir(tmp_path) if p != "run.h5"], "partial files left behind"
    with Trace(path) as tr:
        a = tr.attrs
        assert tr.status == "completed" and a["status"] == "completed"
        assert a["schema_version"] == SCHEMA_VERSION and a["error"] == ""
        assert a["scenario_name"] == "tiny" and a["seed"] == 42 and a["solver"] == "gd"
        assert a["scenario_toml"].startswith('name = "tiny"')
        assert (a["b"], a["lambda"], a["delta"], a["R0"]) == (0.5, 0.125, 0.05, 1.5)
        for key in ("created", "finished", "python_version", "numpy_version", "numba_version",
                    "h5py_version", "platform", "simulator_version"):
            assert isinstance(a[key], str) and a[key], key
        assert tr.iterations == T and tr.steps == T
        assert sorted(tr.names()) == sorted(DESIGN_METRICS)
        t = np.arange(T + 1)
        np.testing.assert_array_equal(tr["t"], t)
        np.testing.assert_array_equal(tr["step"], np.arange(1, T + 1))
        np.testing.assert_array_equal(tr["loss"], 0.5 / (t + 1))
        np.testing.assert_array_equal(tr["fire_count"], np.arange(n)[None, :] + t[:, None])
        assert tr["fire_count"].dtype == np.int64 and tr["loss"].dtype == np.float64
        assert tr["loss"].shape == (T + 1,) and tr["reg_iterations"].shape == (T,)
        np.testing.assert_array_equal(tr["reg_iterations"], 3 + np.arange(T))
        assert tr["phase_seconds"].shape == (T, 3)
        ev = tr["eigvals"]
        assert np.isnan(ev[1::2]).all() and np.allclose(ev[0::2], np.linspace(0.3, 3.0, n))
        np.testing.assert_array_equal(tr["data/X"], X)
        assert tr["data/X"].dtype == np.float64
        assert set(tr.data) == {"X", "y", "a", "W0"}
        np.testing.assert_array_equal(tr.final["f"], np.full(n, 0.5))
        np.testing.assert_array_equal(tr["final/W"], np.zeros((16, 3)))
        assert tr.metric_attrs("phase_seconds")["phases"] == ["query", "solve", "update"]
        assert tr.metric_attrs("drift_quantiles")["quantiles"] == list(DRIFT_QUANTILES)
        with pytest.raises(KeyError, match="no dataset"):
            tr["nonexistent"]
    # plain h5py sees a clean file: no SWMR flags left after finish
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "completed"


@settings(max_examples=15, deadline=None)
@given(rows=hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 4)),
                       elements=st.floats(allow_nan=True, allow_infinity=True, width=64)))
def test_float64_rows_are_bit_exact(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("h") / "r.h5"
    with TraceWriter.create(path, attrs={}) as tw:
        for t, r in enumerate(rows):
            tw.append_state(t, {"v": r, "s": r[0]})
    with Trace(path) as tr:
        assert tr["v"].dtype == np.float64
        assert tr["v"].tobytes() == rows.tobytes()
        assert tr["s"].tobytes() == rows[:, 0].copy().tobytes()


def test_widening_and_types(tmp_path):
    path = tmp_path / "w.h5"
    with TraceWriter.create(path, attrs={"flag": True, "names": ["a", "b"], "n": np.int32(3)}) as tw:
        tw.write_data(X=np.ones((2, 2), dtype=np.float32), y=np.arange(2, dtype=np.int32), a=[1.0, 2.0])
        tw.append_state(0, {"f32": np.float32(0.1), "i32": np.int32(4), "mask": np.array([True, False])})
    with Trace(path) as tr:
        assert tr["f32"].dtype == np.float64 and tr["f32"][0] == np.float64(np.float32(0.1))
        assert tr["i32"].dtype == np.int64
        assert tr["mask"].dtype == np.bool_
        assert tr["data/X"].dtype == np.float64 and tr["data/y"].dtype == np.int64
        assert tr.attrs["flag"] is True and tr.attrs["names"] == ["a", "b"] and tr.attrs["n"] == 3


def test_w0_omitted_above_limit(tmp_path):
    path = tmp_path / "w0.h5"
    with TraceWriter.create(path, attrs={}) as tw:
        tw.write_data(X=np.ones((2, 2)), y=np.ones(2), a=np.ones(4), W0=np.ones((4, 2)), w0_limit=7,
                      note="regenerate from the init stream of the seed")
    with Trace(path) as tr:
        assert "W0" not in tr.data
        assert tr.data_attrs["W0_omitted"] is True and tr.data_attrs["W0_shape"] == [4, 2]
        assert "init stream" in tr.data_attrs["note"]


def test_unknown_metric_and_describe(tmp_path):
    path = tmp_path / "u.h5"
    with TraceWriter.create(path, attrs={}) as tw:
        tw.describe("hsr_queries", units="count", description="half-space queries", kind="step")
        tw.append_state(0, {"loss": 1.0, "my_metric": 2.0})
        tw.append_step(0, {"hsr_queries": 12})
        tw.append_state(1, {"loss": 0.5, "my_metric": 3.0})
        tw.describe("my_metric", units="m", description="mine")   # after creation: updates attrs
        with pytest.raises(ValueError, match="is a state metric"):
            tw.describe("loss", kind="step")
    with Trace(path) as tr:
        assert tr.kind("hsr_queries") == "step" and tr.units("hsr_queries") == "count"
        assert tr.description("hsr_queries") == "half-space queries"
        assert tr.units("my_metric") == "m" and tr.description("my_metric") == "mine"
        np.testing.assert_array_equal(tr["my_metric"], [2.0, 3.0])


def test_late_metric_is_backfilled(tmp_path):
    path = tmp_path / "late.h5"
    with TraceWriter.create(path, attrs={}) as tw:
        tw.append_state(0, {"loss": 1.0, "eigvals": None})
        tw.append_state(1, {"loss": 0.5})
        tw.append_state(2, {"loss": 0.25, "eigvals": np.array([1.0, 2.0]), "count": 7})
    with Trace(path) as tr:
        ev = tr["eigvals"]
        assert ev.shape == (3, 2) and np.isnan(ev[:2]).all() and list(ev[2]) == [1.0, 2.0]
        np.testing.assert_array_equal(tr["count"], [-1, -1, 7])


# ----------------------------------------------------------------------------- attrs of datasets

def test_registry_covers_design():
    for name, (kind, _) in DESIGN_METRICS.items():
        assert name in METRICS, name
        units, description, k, long_name = METRICS[name]
        assert k == kind and units and description and long_name


def test_units_description_and_dimension_scales(tmp_path):
    path = tmp_path / "d.h5"
    _write_run(path)
    with h5py.File(path, "r") as f:
        g = f["trace"]
        assert h5py.h5ds.is_scale(g["t"].id) and h5py.h5ds.is_scale(g["step"].id)
        for name in DESIGN_METRICS:
            ds = g[name]
            kind = DESIGN_METRICS[name][0]
            assert ds.maxshape[0] is None and ds.chunks is not None, name
            assert ds.attrs["units"] and ds.attrs["description"], name
            assert ds.attrs["kind"] == kind
            scale = "t" if kind == "state" else "step"
            assert list(ds.dims[0].keys()) == [scale], name
            assert ds.dims[0][0].name == f"/trace/{scale}"
        for s in ("t", "step"):
            assert g[s].attrs["units"] and g[s].attrs["description"]
    with Trace(path) as tr:
        assert "t" not in tr.names() and "step" not in tr.names()
        assert tr.units("step_seconds") == "s" and "solver step" in tr.description("step_seconds")


# ----------------------------------------------------------------------------- overwrite

def test_refuses_overwrite(tmp_path):
    path = tmp_path / "o.h5"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="--overwrite"):
        TraceWriter.create(path, attrs={})
    assert path.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["o.h5"]


def test_overwrite_true_replaces(tmp_path):
    path = tmp_path / "o.h5"
    _write_run(path, T=3)
    with TraceWriter.create(path, overwrite=True, attrs={"scenario_name": "second"}) as tw:
        tw.append_state(0, {"loss": 9.0})
    with Trace(path) as tr:
        assert tr.attrs["scenario_name"] == "second" and tr.iterations == 0
        assert list(tr["loss"]) == [9.0] and "eigvals" not in tr.names()


def test_missing_or_unwritable_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TraceWriter.create(tmp_path / "nope" / "x.h5", attrs={})
    with pytest.raises(IsADirectoryError):
        TraceWriter.create(tmp_path, attrs={})
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            with pytest.raises(PermissionError, match="not writable"):
                TraceWriter.create(ro / "x.h5", attrs={})
        finally:
            ro.chmod(0o700)


# ----------------------------------------------------------------------------- schema checks

def test_schema_missing_newer_nonhdf5(tmp_path):
    p = tmp_path / "plain.h5"
    with h5py.File(p, "w") as f:
        f["x"] = [1.0]
    with pytest.raises(TraceError, match=r"plain\.h5: not a simulator trace \(no schema_version\)"):
        Trace(p)

    p = tmp_path / "newer.h5"
    _write_run(p, T=1)
    with h5py.File(p, "r+") as f:
        f.attrs["schema_version"] = 7
    with pytest.raises(TraceError, match=rf"newer\.h5: schema_version 7 is newer than this simulator "
                                         rf"reads \({SCHEMA_VERSION}\)"):
        Trace(p)

    p = tmp_path / "text.h5"
    p.write_text("hello, not hdf5\n")
    with pytest.raises(TraceError, match=r"text\.h5: not an HDF5 file"):
        Trace(p)

    with pytest.raises(TraceError, match="no such file"):
        Trace(tmp_path / "absent.h5")


# ----------------------------------------------------------------------------- status on exit

def test_exception_marks_failed(tmp_path):
    path = tmp_path / "f.h5"
    with pytest.raises(RuntimeError, match="solver diverged"):
        with TraceWriter.create(path, attrs={}) as tw:
            tw.append_state(0, {"loss": 1.0})
            tw.append_state(1, {"loss": 2.0})
            raise RuntimeError("solver diverged at t=1")
    with Trace(path) as tr:
        assert tr.status == "failed"
        assert tr.attrs["error"] == "RuntimeError: solver diverged at t=1"
        assert tr.iterations == 1 and tr.attrs["finished"]


def test_keyboard_interrupt_marks_interrupted(tmp_path):
    path = tmp_path / "i.h5"
    with pytest.raises(KeyboardInterrupt):
        with TraceWriter.create(path, attrs={}) as tw:
            tw.append_state(0, {"loss": 1.0})
            raise KeyboardInterrupt
    with Trace(path) as tr:
        assert tr.status == "interrupted" and tr.iterations == 0


def test_normal_exit_without_finish_is_completed_and_finish_twice_errors(tmp_path):
    path = tmp_path / "c.h5"
    with TraceWriter.create(path, attrs={}) as tw:
        tw.append_state(0, {"loss": 1.0})
    with Trace(path) as tr:
        assert tr.status == "completed"
    with pytest.raises(RuntimeError, match="already finished"):
        tw.finish("completed")
    with pytest.raises(RuntimeError, match="already finished"):
        tw.append_state(1, {"loss": 0.5})
    tw2 = TraceWriter.create(tmp_path / "d.h5", attrs={})
    with pytest.raises(ValueError, match="status must be"):
        tw2.finish("done")
    tw2.close()
    with Trace(tmp_path / "d.h5") as tr:
        assert tr.status == "running"


# ----------------------------------------------------------------------------- batch


def _count_publishes(monkeypatch):
    """Count the renames/links that publish a staged copy over the trace's path."""
    calls = []
    real_replace, real_link = os.replace, os.link
    monkeypatch.setattr(os, "replace", lambda *a, **k: (calls.append("replace"), real_replace(*a, **k))[1])
    monkeypatch.setattr(os, "link", lambda *a, **k: (calls.append("link"), real_link(*a, **k))[1])
    return calls


def test_batch_publishes_once(tmp_path, monkeypatch):
    path = tmp_path / "b.h5"
    tw = TraceWriter.create(path, attrs={})
    calls = _count_publishes(monkeypatch)
    with tw.batch():
        tw.set_attrs(b=0.5)
        tw.write_data(X=np.eye(3), y=np.ones(3))
        tw.set_attrs(R0=2.0)
        with Trace(path) as tr:   # nothing published yet: the reader sees the file before the batch
            assert "b" not in tr.attrs and not tr.data
    assert len(calls) == 1
    with Trace(path) as tr:
        assert (tr.attrs["b"], tr.attrs["R0"]) == (0.5, 2.0)
        np.testing.assert_array_equal(tr["data/X"], np.eye(3))
    # unbatched, the same three changes publish three times
    tw.set_attrs(b=0.25)
    tw.write_data(y=np.zeros(3))
    tw.set_attrs(R0=1.0)
    assert len(calls) == 4
    tw.append_state(0, {"loss": 1.0})
    del calls[:]
    with tw.batch():   # the final state, an attr and the status: one install
        tw.write_final({"f": np.zeros(3)})
        tw.set_attrs(done=True)
        tw.finish("completed")
    assert len(calls) == 1
    with Trace(path) as tr:
        assert tr.status == "completed" and bool(tr.attrs["done"]) and tr.iterations == 0
        np.testing.assert_array_equal(tr.final["f"], np.zeros(3))
    assert not [p for p in os.listdir(tmp_path) if p != "b.h5"], "partial files left behind"


def test_append_inside_batch_is_durable_when_it_returns(tmp_path):
    path = tmp_path / "a.h5"
    with TraceWriter.create(path, attrs={}) as tw:
        with tw.batch():
            tw.set_attrs(scale=3.0)
            tw.append_state(0, {"loss": 1.0})
            with Trace(path) as tr:   # published by the append, with what the batch staged before it
                assert tr.iterations == 0 and tr["loss"][0] == 1.0 and tr.attrs["scale"] == 3.0
            tw.set_attrs(after=1)     # staged again, published at the batch's end
            with Trace(path) as tr:
                assert "after" not in tr.attrs
        with Trace(path) as tr:
            assert tr.attrs["after"] == 1


def test_exception_in_batch_installs_the_staged_changes_as_failed(tmp_path):
    path = tmp_path / "e.h5"
    with pytest.raises(RuntimeError, match="boom"):
        with TraceWriter.create(path, attrs={}) as tw:
            with tw.batch():
                tw.set_attrs(b=0.5)
                raise RuntimeError("boom")
    with Trace(path) as tr:
        assert tr.status == "failed" and tr.attrs["error"] == "RuntimeError: boom" and tr.attrs["b"] == 0.5
    assert not [p for p in os.listdir(tmp_path) if p != "e.h5"], "partial files left behind"


# ----------------------------------------------------------------------------- misuse

def test_row_index_misuse(tmp_path):
    path = tmp_path / "m.h5"
    with TraceWriter.create(path, attrs={}) as tw:
        with pytest.raises(ValueError, match="next state row is 0"):
            tw.append_state(1, {"loss": 1.0})
        with pytest.raises(ValueError, match="state row"):
            tw.append_step(0, {"step_seconds": 1.0})        # no state row 0 yet
        tw.append_state(0, {"loss": 1.0, "fire_count": np.arange(3)})
        with pytest.raises(ValueError, match="next state row is 1"):
            tw.append_state(0, {"loss": 1.0})                # repeated
        with pytest.raises(ValueError, match="next state row is 1"):
            tw.append_state(2, {"loss": 1.0})                # skipped
        with pytest.raises(TypeError, match="must be an int"):
            tw.append_state(1.0, {"loss": 1.0})
        with pytest.raises(ValueError, match="is a step metric"):
            tw.append_state(1, {"step_seconds": 1.0})
        with pytest.raises(ValueError, match="is a state metric"):
            tw.append_step(0, {"loss": 1.0})
        with pytest.raises(ValueError, match="row shape"):
            tw.append_state(1, {"fire_count": np.arange(4)})
        with pytest.raises(TypeError, match="holds integers"):
            tw.append_state(1, {"fire_count": np.ones(3)})
        with pytest.raises(ValueError, match="reserved"):
            tw.append_state(1, {"t": 1})
        with pytest.raises(ValueError, match="managed by the writer"):
            tw.set_attrs(status="completed")
        # nothing above was written: the next rows are still state 1 / step 0
        assert tw.rows == {"state": 1, "step": 0}
        tw.append_iteration(1, state={"loss": 0.5}, step={"step_seconds": 0.1})
        with pytest.raises(ValueError, match="next step row is 1"):
            tw.append_step(0, {"step_seconds": 1.0})
    with Trace(path) as tr:
        assert list(tr["loss"]) == [1.0, 0.5] and list(tr["step_seconds"]) == [0.1]


# ----------------------------------------------------------------------------- validation group

def test_write_validation(tmp_path):
    path = tmp_path / "v.h5"
    _write_run(path, T=2)
    write_validation(path, {"loss_monotone": {"status": "pass", "measured": 0.9, "bound": 1.0,
                                              "first_failing_iteration": -1}})
    write_validation(path, {"drift": {"status": "fail", "measured": 2.0, "bound": 1.5,
                                      "first_failing_iteration": 2, "message": "R exceeded"}})
    with Trace(path) as tr:
        v = tr.validation
        assert list(v) == ["drift"]             # replaced, not merged
        assert v["drift"] == {"status": "fail", "measured": 2.0, "bound": 1.5,
                              "first_failing_iteration": 2, "message": "R exceeded"}
        assert tr.iterations == 2 and tr.status == "completed"


# ----------------------------------------------------------------------------- live reader

def test_reader_sees_a_live_trace(tmp_path):
    path = tmp_path / "live.h5"
    tw, _ = _write_run(path, T=3, finish=False)
    with Trace(path) as tr:
        assert tr.status == "running" and tr.iterations == 3
    tw.append_iteration(4, state=_state(4, 8), step=_step(3))
    with Trace(path) as tr:
        assert tr.iterations == 4
    tw.finish("completed")


# ----------------------------------------------------------------------------- SIGKILL

N_ITER, N_POINTS = 40, 16


def _check_killed_file(path, lines, seed):
    ctx = f"(seed {seed}, child printed {lines[-3:]})"
    flushed = [int(s.split()[1]) for s in lines if s.startswith("flushed ")]
    if "created" not in lines:
        # killed before create() returned: there may be no file, but if there is one it must open
        if os.path.exists(path):
            with Trace(path) as tr:
                assert tr.status == "running", ctx
        return None
    with Trace(path) as tr:
        if "finished" in lines:
            assert tr.status == "completed", ctx
        else:
            assert tr.status in ("running", "completed"), ctx   # completed: killed after the rename
        if "attrs" in lines:
            assert (tr.attrs["b"], tr.attrs["lambda"]) == (0.25, 0.5), ctx
        if not flushed:
            return tr.status
        assert tr.attrs["scale0"] == 3.0, ctx   # staged in the batch that appended row 0
        if "finished" in lines:
            assert not tr.attrs["held"], ctx
        T = tr.iterations
        assert T >= max(flushed), ctx
        for name in tr.names():
            expected = T if tr.kind(name) == "step" else T + 1
            assert tr[name].shape[0] == expected, (name, tr[name].shape, expected, ctx)
        t = np.arange(T + 1)
        np.testing.assert_array_equal(tr["t"], t, err_msg=ctx)
        np.testing.assert_array_equal(tr["loss"], 1.0 / (t + 1), err_msg=ctx)
        np.testing.assert_array_equal(tr["fire_count"], np.arange(N_POINTS)[None, :] + t[:, None])
        np.testing.assert_array_equal(tr["drift_quantiles"], np.repeat(0.5 * t[:, None], 5, 1))
        ev = tr["eigvals"]
        assert np.isnan(ev[t % 3 != 0]).all(), ctx
        np.testing.assert_array_equal(ev[t % 3 == 0], np.arange(N_POINTS)[None, :] + 0.25 * t[t % 3 == 0, None])
        if T >= 5:
            late = tr["late_metric"]
            assert np.isnan(late[:5]).all(), ctx
            np.testing.assert_array_equal(late[5:], 10.0 * t[5:])
        if T == 0:
            assert "step_seconds" not in tr.names() or tr["step_seconds"].shape == (0,), ctx
            return tr.status
        k = np.arange(T)
        np.testing.assert_array_equal(tr["step_seconds"], 1e-3 * (k + 1))
        np.testing.assert_array_equal(tr["nodes_touched"], 7 * (k + 1))
        np.testing.assert_array_equal(tr["phase_seconds"].reshape(-1, 2),
                                      np.stack([k + 1.0, 2.0 * (k + 1)], axis=1))
        return tr.status


def test_sigkill_at_random_moments_leaves_a_readable_trace(tmp_path):
    """Children are SIGKILLed during start-up (structural copies), during the appends,
    and during write_final/finish; every file must open and hold every reported row."""
    seed = int(os.environ.get("TRACE_KILL_SEED", random.SystemRandom().randrange(2**31)))
    rng = random.Random(seed)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    plans = ([("flushed", None)] * 8) + ([("created", None)] * 4) + ([("finishing", None)] * 3)
    results = []
    batch = 3
    t_start = time.monotonic()
    for b0 in range(0, len(plans), batch):
        procs = []
        for i in range(b0, min(b0 + batch, len(plans))):
            what = plans[i][0]
            target = f"flushed {rng.randint(0, N_ITER)}" if what == "flushed" else what
            path = tmp_path / f"k{i}.h5"
            p = subprocess.Popen([sys.executable, CHILD, str(path), str(N_ITER), "0.001"],
                                 stdout=subprocess.PIPE, text=True, env=env)
            procs.append((p, path, target, rng.uniform(0.0, 0.004)))
        for p, path, target, delay in procs:
            lines = []
            for line in p.stdout:
                lines.append(line.strip())
                if line.strip() == target:
                    break
            time.sleep(delay)
            p.send_signal(signal.SIGKILL)
            p.wait()
            lines += [s.strip() for s in p.stdout.read().splitlines()]
            p.stdout.close()
            assert p.returncode == -signal.SIGKILL or "finished" in lines, (p.returncode, lines[-2:])
            results.append((path, lines, _check_killed_file(path, lines, seed)))
    assert time.monotonic() - t_start < 60
    # the interesting case happened: killed mid-run with rows written, status running
    assert any(r == "running" and any(s.startswith("flushed 1") for s in lines)
               for _, lines, r in results), f"no mid-run kill observed (seed {seed})"
    # a killed (SWMR-flagged) trace can still get /validation written, and stays readable
    path, lines, status = next((x for x in results if x[2] == "running"), results[0])
    if status == "running":
        with Trace(path) as tr:
            T = tr.iterations
        write_validation(path, {"completed": {"status": "fail", "measured": 0, "bound": 1}})
        with Trace(path) as tr:
            assert tr.validation["completed"]["status"] == "fail"
            assert tr.iterations == T and tr.status == "running"
            assert np.array_equal(tr["t"], np.arange(T + 1))
        with h5py.File(path, "r") as f:     # rebuilt as a clean file, scales re-attached
            assert list(f["trace/loss"].dims[0].keys()) == ["t"]
            assert f["trace/loss"].shape[0] == T + 1
