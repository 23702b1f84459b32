"""The command line and the runner: runs, traces, exit codes, and bad input (one line, exit 2, nothing written)."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import simulator
from simulator.cli import cli
from simulator.engine.trace import Trace

SMALL = ["--set", "network.m=512", "--set", "data.n=6", "--set", "data.d=5"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -- help and listing ------------------------------------------------------------
@pytest.mark.parametrize("command", [[], ["list"], ["show"], ["run"], ["inspect"]])
def test_every_command_has_help(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output


def test_list_and_show():
    result = invoke("list")
    assert result.exit_code == 0
    for name in ("quickstart", "paper-default", "gd", "gauss-newton", "bpsw", "sublinear-fast"):
        assert name in result.output
    result = invoke("show", "quickstart", "--set", "network.m=1024")
    assert result.exit_code == 0 and "m = 1024" in result.output


# -- runs -------------------------------------------------------------------------
def test_run_writes_a_trace_that_inspect_reads(tmp_path):
    out = tmp_path / "q.h5"
    result = invoke("run", "quickstart", *SMALL, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert str(out) in result.output and "loss" in result.output
    with Trace(out) as tr:
        assert tr.status == "completed"
        T = tr.iterations
        assert T >= 1
        loss, res = tr["loss"], tr["residual_norm"]
        assert loss.shape == (T + 1,) and np.allclose(loss, 0.5 * res**2, rtol=1e-12)
        assert tr["step_seconds"].shape == (T,)
        assert tr["fire_count"].shape == (T + 1, 6)
        for key in ("b", "lambda", "delta", "R0", "scenario_toml", "schema_version"):
            assert key in tr.attrs
        assert tr.data["W0"].shape == (512, 5)
    summary = invoke("inspect", out, "--json")
    assert summary.exit_code == 0
    data = json.loads(summary.output)
    assert data["status"] == "completed" and data["iterations"] == T
    assert data["metrics"]["loss"]["last"] == pytest.approx(loss[-1])
    text = invoke("inspect", out)
    assert text.exit_code == 0 and "drift_max" in text.output


def test_python_api(tmp_path):
    path = simulator.run("quickstart", overrides=["network.m=256", "data.n=4", "data.d=3"], out=tmp_path / "a.h5")
    with simulator.Trace(path) as tr:
        assert tr.status == "completed" and tr["loss"][-1] < tr["loss"][0]


def test_default_output_goes_under_outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("run", *SMALL, "--quiet")
    assert result.exit_code == 0, result.output
    files = list((tmp_path / "outputs").glob("quickstart-*.h5"))
    assert len(files) == 1


@pytest.mark.parametrize("solver", ["gd", "gauss-newton", "bpsw", "sublinear"])
def test_every_solver_runs_from_the_cli(tmp_path, solver):
    out = tmp_path / f"{solver}.h5"
    result = invoke("run", "quickstart", *SMALL, "--set", f"solver.name={solver}", "--set",
                    "stopping.max_iterations=3", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    with Trace(out) as tr:
        assert tr.attrs["solver"] == solver and tr.status == "completed"
        for name in tr.names():  # every recorded metric says what it is
            assert tr.units(name) and tr.description(name), name


def test_same_seed_gives_identical_traces_apart_from_timings(tmp_path):
    paths = [tmp_path / "a.h5", tmp_path / "b.h5"]
    for p in paths:
        assert invoke("run", "quickstart", *SMALL, "--seed", 7, "--out", p, "--quiet").exit_code == 0
    timing = {"step_seconds", "phase_seconds"}
    volatile = {"created", "finished", "writer_pid", "init_seconds"}
    with Trace(paths[0]) as a, Trace(paths[1]) as b:
        assert a.names() == b.names()
        for name in a.names():
            if name not in timing:
                assert np.array_equal(a[name], b[name], equal_nan=True), name
        for key in set(a.attrs) - volatile:
            assert a.attrs[key] == b.attrs[key], key
        for key, value in a.data.items():
            assert np.array_equal(value, b.data[key])
    other = tmp_path / "c.h5"
    assert invoke("run", "quickstart", *SMALL, "--seed", 8, "--out", other, "--quiet").exit_code == 0
    with Trace(paths[0]) as a, Trace(other) as c:
        assert not np.array_equal(a["loss"], c["loss"])


def test_failed_run_exits_1_and_the_trace_says_why(tmp_path):
    out = tmp_path / "f.h5"
    result = invoke("run", "quickstart", *SMALL, "--set", "network.b=50.0", "--set", "solver.name=gauss-newton",
                    "--out", out, "--quiet")
    assert result.exit_code == 1
    assert "empty fire set" in result.output
    with Trace(out) as tr:
        assert tr.status == "failed" and "empty fire set" in tr.attrs["error"]


# -- bad input: one line, exit 2, nothing written ----------------------------------
def bad_toml(tmp_path, text):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    return p


def data_file(tmp_path, rows):
    p = tmp_path / "data.csv"
    p.write_text("\n".join(",".join(str(v) for v in row) for row in rows) + "\n")
    return p


FILE3 = ["--set", "data.kind=file", "--set", "data.n=3", "--set", "data.d=3"]
BASE = 'name = "x"\n[data]\nn = 4\nd = 3\n[network]\nm = 64\n'


@pytest.mark.parametrize(
    "make_args, expect",
    [
        (lambda tp: ["no-such-scenario"], "no-such-scenario"),
        (lambda tp: [tp / "missing.toml"], "missing.toml"),
        (lambda tp: [bad_toml(tp, "name = \n")], "bad.toml"),
        (lambda tp: [bad_toml(tp, BASE + "[bogus]\nx = 1\n")], "bogus"),
        (lambda tp: [bad_toml(tp, BASE.replace("m = 64", "mm = 64"))], "network.mm"),
        (lambda tp: [bad_toml(tp, BASE.replace("m = 64", 'm = "big"'))], "network.m"),
        (lambda tp: ["quickstart", "--set", "network.m=0"], "network.m"),
        (lambda tp: ["quickstart", "--set", "network.m=-3"], "network.m"),
        (lambda tp: ["quickstart", "--set", "data.n=1"], "data.n"),
        (lambda tp: ["quickstart", "--set", "data.d=0"], "data.d"),
        (lambda tp: ["quickstart", "--set", "network.b=-0.5"], "network.b"),
        (lambda tp: ["quickstart", "--set", "solver.regresion=pcg"], "solver.regresion"),
        (lambda tp: ["quickstart", "--set", "solver.regression=magic"], "solver.regression"),
        (lambda tp: ["quickstart", "--set", "network.nope=1"], "network.nope"),
        (lambda tp: ["quickstart", "--set", "network.m=2^40"], "GiB"),
        (lambda tp: ["quickstart", *FILE3, "--set",
                     f"data.path={data_file(tp, [[1, 0, 0, 1], [0, 'nan', 1, 2], [0, 0, 1, 3]])}"], "NaN"),
        (lambda tp: ["quickstart", *FILE3, "--set",
                     f"data.path={data_file(tp, [[1, 0, 0, 1], [0, 'inf', 1, 2], [0, 0, 1, 3]])}"], "inf"),
        (lambda tp: ["quickstart", *FILE3, "--set",
                     f"data.path={data_file(tp, [[1, 2, 0, 1], [1, 2, 0, 2], [0, 0, 1, 3]])}"], "duplicate"),
        (lambda tp: ["quickstart", *FILE3, "--set",
                     f"data.path={data_file(tp, [[1, 2, 0, 1], [-1, -2, 0, 2], [0, 0, 1, 3]])}"], "antipodal"),
        (lambda tp: ["quickstart", "--out", tp / "no" / "such" / "dir" / "t.h5"], "does not exist"),
        (lambda tp: ["quickstart", "--out", data_file(tp, [[1]]) / "t.h5"], "not a directory"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, make_args, expect, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = make_args(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = CliRunner().invoke(cli, ["run", *[str(a) for a in args], "--quiet"])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert expect.lower() in lines[0].lower(), lines[0]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_existing_output_is_not_overwritten_without_flag(tmp_path):
    out = tmp_path / "t.h5"
    assert invoke("run", "quickstart", *SMALL, "--out", out, "--quiet").exit_code == 0
    before = digest(out)
    result = invoke("run", "quickstart", *SMALL, "--seed", 3, "--out", out, "--quiet")
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert digest(out) == before
    assert invoke("run", "quickstart", *SMALL, "--seed", 3, "--out", out, "--overwrite", "--quiet").exit_code == 0
    assert digest(out) != before


@pytest.mark.parametrize("content", [None, b"not a trace at all\n", "h5-without-schema"])
def test_inspect_rejects_what_is_not_a_trace(tmp_path, content):
    path = tmp_path / "x.h5"
    if content == "h5-without-schema":
        import h5py

        with h5py.File(path, "w") as f:
            f["a"] = 1
    elif content is not None:
        path.write_bytes(content)
    result = invoke("inspect", path)
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(path.name) in lines[0]


def test_show_unknown_scenario_exit_2():
    result = invoke("show", "nope")
    assert result.exit_code == 2 and result.output.startswith("error: ")


# -- a killed run keeps every completed iteration ------------------------------------
LONG = ["quickstart", "--set", "solver.name=gd", "--set", "network.m=2048", "--set", "stopping.max_iterations=100000",
        "--set", "stopping.rel_loss_target=0.0", "--quiet"]


def _as_from_a_terminal():
    # A run started from a terminal has SIGINT at its default, so Python turns Ctrl-C into
    # KeyboardInterrupt. CI may start pytest in the background of a shell without job control,
    # where SIGINT is inherited as ignored; undo that for the child.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_run(out):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "simulator", "run", *LONG, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            preexec_fn=_as_from_a_terminal)


def wait_for_iterations(out, k, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        if out.exists():
            try:
                with Trace(out) as tr:
                    if tr.iterations >= k:
                        return tr.iterations
            except Exception:
                pass
        time.sleep(0.05)
    raise AssertionError("the run made no progress")


@pytest.mark.parametrize("sig, status, code", [(signal.SIGKILL, "running", -signal.SIGKILL),
                                               (signal.SIGINT, "interrupted", 130),
                                               (signal.SIGTERM, "interrupted", 143)])
def test_killed_run_leaves_a_readable_trace(tmp_path, sig, status, code):
    out = tmp_path / "k.h5"
    proc = start_run(out)
    try:
        seen = wait_for_iterations(out, 5, proc)
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # say where the child is: `simulator` dumps its stacks on SIGUSR1
            proc.send_signal(signal.SIGUSR1)
            time.sleep(2)
            proc.kill()
            raise AssertionError(f"the run did not stop on {sig.name}; its stderr:\n"
                                 f"{proc.communicate()[1].decode()[-6000:]}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read().decode()
    if sig != signal.SIGKILL:  # one line naming the trace; no traceback of an interrupt swallowed on its way
        assert str(out) in stderr and "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    with Trace(out) as tr:
        assert tr.status == status
        T = tr.iterations
        assert T >= seen
        assert tr["loss"].shape == (T + 1,) and np.isfinite(tr["loss"]).all()
        assert tr["step_seconds"].shape[0] in (T, T + 1)
        assert np.all(np.diff(tr["loss"]) <= 1e-12)  # gd with a stable step never increases the loss
        if sig == signal.SIGTERM:
            assert "SIGTERM" in tr.attrs["error"]
    assert proc.returncode == code


def test_an_interrupt_before_the_trace_is_opened_writes_nothing_and_says_so(tmp_path, monkeypatch):
    from simulator.engine import runner

    def interrupted_prepare(scenario):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "prepare", interrupted_prepare)
    out = tmp_path / "never.h5"
    result = invoke("run", "quickstart", "--set", "network.m=256", "--out", str(out))
    assert result.exit_code == 130
    assert "before the trace was opened; nothing was written" in result.output and not out.exists()
    assert os.listdir(tmp_path) == []


def test_entry_point_exit_codes_and_flushed_output(tmp_path):
    # main() ends with os._exit (skipping the interpreter's teardown): the exit code and everything printed
    # to a pipe (block-buffered) must still come through
    env = {**os.environ, "PYTHONUNBUFFERED": ""}
    out = tmp_path / "t.h5"
    ok = subprocess.run([sys.executable, "-m", "simulator", "run", "quickstart", "--set", "network.m=256",
                         "--set", "stopping.max_iterations=2", "--out", str(out)],
                        capture_output=True, text=True, env=env, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[-1] == f"trace      {out}"
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "completed"
    bad = subprocess.run([sys.executable, "-m", "simulator", "run", "quickstart", "--set", "network.m=-3"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and "network.m" in bad.stderr
    usage = subprocess.run([sys.executable, "-m", "simulator", "no-such-command"], capture_output=True, text=True,
                           env=env, timeout=300)
    assert usage.returncode == 2 and "No such command" in usage.stderr
    helped = subprocess.run([sys.executable, "-m", "simulator", "--help"], capture_output=True, text=True, env=env,
                            timeout=300)
    assert helped.returncode == 0 and "run" in helped.stdout
