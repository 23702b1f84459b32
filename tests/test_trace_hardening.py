"""Trace files under damage and misuse: truncated files, what --overwrite may replace, two runs
racing for one path, validate on read-only files and symbolic links, traces as netCDF-4
(xarray, netCDF4), and validate on a trace without rows."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import socket
import stat
import subprocess
import sys
import textwrap
import time
import traceback

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from simulator.cli import cli
from simulator.engine.trace import (
    DRIFT_QUANTILES,
    SCHEMA_VERSION,
    ReadOnlyTrace,
    Trace,
    TraceError,
    TraceWriter,
    write_validation,
)
from simulator.engine.validate import HOLDS, run_checks

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ENV = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
N = 6


def _state(t: int) -> dict:
    return {"loss": 1.0 / (t + 1), "residual_norm": np.sqrt(2.0 / (t + 1)),
            "fire_count": np.arange(N) + t, "flips": np.full(N, t),
            "drift_quantiles": np.linspace(0.0, 0.1 * t, 5),
            "eigvals": np.linspace(0.5, 2.0, N) if t % 2 == 0 else None}


def _step(k: int) -> dict:
    return {"step_seconds": 0.01 * (k + 1), "phase_seconds": [0.001, 0.002 * (k + 1), 0.003],
            "phase_flops": np.array([10, 20, 30]) * (k + 1), "nodes_touched": 5 + k}


def _write(path, T=4, *, finish=True, attrs=None):
    tw = TraceWriter.create(path, attrs={"scenario_name": "hardening", "seed": 3, **(attrs or {})})
    tw.set_attrs(b=0.5, **{"lambda": 0.25})
    rng = np.random.default_rng(1)
    tw.write_data(X=rng.standard_normal((N, 3)), y=np.ones(N), a=np.ones(8), W0=rng.standard_normal((8, 3)))
    tw.describe("phase_seconds", phases=["query", "solve", "update"])
    tw.describe("phase_flops", phases=["query", "solve", "update"])
    tw.append_state(0, _state(0))
    for t in range(1, T + 1):
        tw.append_iteration(t, state=_state(t), step=_step(t - 1))
    if finish:
        tw.write_final({"f": np.full(N, 0.5), "drift": np.zeros(8), "W": np.zeros((8, 3))})
        tw.finish("completed")
    return tw


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """A trace written by `simulator run` (small), to copy: the theory checks need its attrs."""
    import simulator

    return simulator.run("quickstart", overrides=["network.m=512", "stopping.max_iterations=2"],
                         out=tmp_path_factory.mktemp("run") / "run.h5")


def _others(directory, keep):
    return sorted(e for e in os.listdir(directory) if e not in keep)


def _cut(src, dst, size):
    shutil.copyfile(src, dst)
    os.truncate(dst, size)
    return dst


def _cuts(size):
    """The cut points of item 1: half, 90%, all but 1 KiB, all but 16 bytes, the superblock and a
    little more, and inside the superblock."""
    return {"half": size // 2, "90pct": size * 9 // 10, "minus_1KiB": size - 1024, "minus_16": size - 16,
            "header": 96, "in_superblock": 40}


# ============================================================================ 1. truncated files

_OPEN_ALL = textwrap.dedent("""
    import json, sys, time
    from simulator.engine.trace import Trace, TraceError
    for path in sys.argv[1:]:
        t0 = time.perf_counter()
        try:
            with Trace(path) as tr:
                out = {"opened": tr.status, "iterations": tr.iterations}
        except TraceError as e:
            out = {"error": str(e)}
        out["seconds"] = time.perf_counter() - t0
        print(json.dumps(out), flush=True)
""")


def _open_in_child(paths, timeout=60):
    """Open each path in a child process (a hang must fail the test, not stall it)."""
    try:
        proc = subprocess.run([sys.executable, "-c", _OPEN_ALL, *map(str, paths)], env=ENV, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"opening {len(paths)} damaged traces took more than {timeout} s (a retry loop?)")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.mark.parametrize("writer_state", ["completed", "running"])
def test_truncated_trace_fails_fast_and_says_what_survived(tmp_path, writer_state):
    src = tmp_path / "src.h5"
    tw = _write(src, T=4, finish=writer_state == "completed")
    try:
        if writer_state == "running":       # copy while the writer holds it: the copy has SWMR flags
            with open(src, "rb") as fh:
                assert fh.read(12)[11] & 0x4, "expected a file flagged for SWMR writing"
            size = os.path.getsize(src)
            snapshot = _cut(src, tmp_path / "snapshot.h5", size)
        else:
            snapshot, size = src, os.path.getsize(src)
        cuts = _cuts(size)
        paths = [_cut(snapshot, tmp_path / f"cut-{name}.h5", at) for name, at in cuts.items()]
        results = _open_in_child(paths)
    finally:
        if writer_state == "running":
            tw.close()
    for (name, at), res in zip(cuts.items(), results):
        assert "error" in res, (name, res)            # never opened as if complete
        msg = res["error"]
        assert res["seconds"] < 1.0, (name, res)
        assert "\n" not in msg and msg.startswith(str(tmp_path / f"cut-{name}.h5") + ": damaged")
        if at >= 48:                                   # the whole superblock is there: N and M are known
            assert f"says {size} bytes, it has {at})" in msg, msg
        recovered = ("none of its iterations could be recovered" in msg
                     or "of its 4 iterations (state rows t = 0.." in msg)
        assert recovered, msg
    by_name = dict(zip(cuts, results))
    for name in ("half", "header", "in_superblock"):
        assert "none of its iterations could be recovered" in by_name[name]["error"]
    # cutting the file's last 16 bytes loses no row of /trace (the tail is other metadata or spare room)
    assert "4 of its 4 iterations" in by_name["minus_16"]["error"] or "none" in by_name["minus_16"]["error"]


def test_truncated_trace_through_the_cli_is_one_line_exit_2(tmp_path):
    src = tmp_path / "src.h5"
    _write(src, T=3)
    size = os.path.getsize(src)
    runner = CliRunner()
    try:
        import matplotlib  # noqa: F401
        plots = True
    except ImportError:
        plots = False
    for name, at in _cuts(size).items():
        path = _cut(src, tmp_path / f"{name}.h5", at)
        commands = [["inspect", str(path)], ["validate", str(path)]]
        if plots:
            commands.append(["plot", str(path), "-o", str(tmp_path / f"{name}-plots")])
        for command in commands:
            t0 = time.perf_counter()
            result = runner.invoke(cli, command)
            assert time.perf_counter() - t0 < 5
            assert result.exit_code == 2, (command, result.output)
            lines = [ln for ln in result.output.splitlines() if ln.strip()]
            assert len(lines) == 1 and "damaged" in lines[0], result.output
        assert os.path.getsize(path) == at          # validate did not touch it


def test_a_file_cut_by_one_byte_is_not_reported_complete(tmp_path):
    """HDF5's SWMR reader skips its own length check: the last bytes could go missing silently."""
    src = tmp_path / "src.h5"
    _write(src, T=3)
    path = _cut(src, tmp_path / "cut.h5", os.path.getsize(src) - 1)
    with pytest.raises(TraceError, match=r"damaged: the file is truncated .*; (3 of its 3|none of its)"):
        Trace(path)


def test_corrupt_superblock_empty_file_and_fifo_fail_fast(tmp_path):
    src = tmp_path / "src.h5"
    _write(src, T=1)
    bad = tmp_path / "bad-checksum.h5"
    shutil.copyfile(src, bad)
    with open(bad, "r+b") as fh:                # a byte of the end-of-file address
        fh.seek(28)
        b = fh.read(1)
        fh.seek(28)
        fh.write(bytes([b[0] ^ 0x40]))
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)                             # opening a FIFO to read it blocks until a writer comes
    results = _open_in_child([bad, empty, fifo], timeout=30)
    assert "superblock fails its checksum" in results[0]["error"]
    assert "an empty file" in results[1]["error"]
    assert "is a named pipe (FIFO), not a trace file" in results[2]["error"]


def test_killed_writer_still_opens(tmp_path):
    """The SWMR fallback stays for what it is for: a flagged file of a dead (here: paused) writer."""
    path = tmp_path / "live.h5"
    tw = _write(path, T=3, finish=False)
    copy = tmp_path / "copy.h5"
    shutil.copyfile(path, copy)                 # what a SIGKILL leaves: the flags and every row
    tw.close()
    with Trace(copy) as tr:
        assert tr.status == "running" and tr.iterations == 3
        np.testing.assert_array_equal(tr["loss"], 1.0 / (np.arange(4) + 1))


# ============================================================================ 2. what --overwrite replaces

def _refuses(path, pattern):
    before = _others(os.path.dirname(path), [])
    with pytest.raises(FileExistsError, match=pattern):
        TraceWriter.create(path, overwrite=True, attrs={})
    assert _others(os.path.dirname(path), []) == before, "something was left behind"


def test_overwrite_refuses_what_is_not_a_trace(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("precious notes\n")
    _refuses(text, r"notes\.h5: is not an HDF5 file, so not a simulator trace; refusing to overwrite")
    assert text.read_text() == "precious notes\n"

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = [1.0]
    _refuses(other, r"is an HDF5 file but not a simulator trace \(no schema_version attribute\); refusing")

    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)
    _refuses(fifo, r"pipe\.h5: is a named pipe \(FIFO\), not a simulator trace; refusing to overwrite")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)

    if len(str(tmp_path / "s.h5")) < 100:
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.bind(str(tmp_path / "s.h5"))
            _refuses(tmp_path / "s.h5", r"is a socket, not a simulator trace")
        finally:
            sock.close()

    with pytest.raises(IsADirectoryError):
        TraceWriter.create(tmp_path, overwrite=True, attrs={})


def test_overwrite_refuses_a_device(tmp_path):
    dev = tmp_path / "full"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 7))     # what /dev/full is
    except (PermissionError, OSError) as e:
        pytest.skip(f"cannot make a device node here: {e}")
    _refuses(dev, r"full: is a character device, not a simulator trace; refusing to overwrite")
    assert stat.S_ISCHR(os.lstat(dev).st_mode)


def test_overwrite_refuses_a_symbolic_link_even_to_a_trace(tmp_path):
    target = tmp_path / "target.h5"
    _write(target, T=1)
    digest = target.read_bytes()
    link = tmp_path / "link.h5"
    link.symlink_to(target)
    _refuses(link, r"link\.h5: is a symbolic link \(to .*target\.h5\), not a simulator trace")
    assert link.is_symlink() and target.read_bytes() == digest
    dangling = tmp_path / "dangling.h5"
    dangling.symlink_to(tmp_path / "nowhere.h5")
    _refuses(dangling, r"is a symbolic link")
    assert not (tmp_path / "nowhere.h5").exists()


def test_overwrite_replaces_traces_finished_killed_or_truncated(tmp_path):
    done = tmp_path / "done.h5"
    _write(done, T=2)
    killed = tmp_path / "killed.h5"
    tw = _write(tmp_path / "live.h5", T=2, finish=False)
    shutil.copyfile(tmp_path / "live.h5", killed)   # status running, writer_pid = ours (not "live")
    tw.close()
    truncated = _cut(done, tmp_path / "truncated.h5", os.path.getsize(done) - 1024)
    with pytest.raises(TraceError, match="damaged"):
        Trace(truncated)
    for path in (done, killed, truncated):
        with TraceWriter.create(path, overwrite=True, attrs={"scenario_name": "new"}) as w:
            w.append_state(0, {"loss": 9.0})
        with Trace(path) as tr:
            assert tr.attrs["scenario_name"] == "new" and list(tr["loss"]) == [9.0] and tr.status == "completed"
    assert _others(tmp_path, ["done.h5", "killed.h5", "truncated.h5", "live.h5"]) == []


def test_overwrite_refuses_a_damaged_file_that_is_not_ours(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w", libver="latest") as f:
        f["x"] = np.arange(10000.0)
    path = _cut(other, tmp_path / "cut.h5", os.path.getsize(other) - 1024)
    _refuses(path, r"cut\.h5: .*not .*simulator trace.*; refusing to overwrite")


def test_overwrite_refuses_a_trace_being_written(tmp_path):
    path = tmp_path / "busy.h5"
    tw = _write(path, T=1, finish=False)
    try:
        with pytest.raises(FileExistsError, match="being written by this process"):
            TraceWriter.create(path, overwrite=True, attrs={})
    finally:
        tw.finish("completed")
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from simulator.engine.trace import TraceWriter
        tw = TraceWriter.create({str(tmp_path / 'other.h5')!r}, attrs={{}})
        tw.append_state(0, {{"loss": 1.0}})
        print("ready", flush=True)
        sys.stdin.readline()
        tw.finish("completed")
    """)], env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        with pytest.raises(FileExistsError, match=rf"being written by process {child.pid} \(status running\)"):
            TraceWriter.create(tmp_path / "other.h5", overwrite=True, attrs={})
    finally:
        child.stdin.write("\n")
        child.stdin.close()
        child.wait(30)
    with Trace(tmp_path / "other.h5") as tr:
        assert tr.status == "completed" and tr.attrs["writer_pid"] == child.pid


def test_overwrite_into_a_missing_directory_keeps_its_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="output directory .* does not exist"):
        TraceWriter.create(tmp_path / "no" / "such" / "x.h5", overwrite=True, attrs={})


def test_run_overwrite_of_a_text_file_exits_2(tmp_path):
    out = tmp_path / "notes.txt"
    out.write_text("keep me")
    result = CliRunner().invoke(cli, ["run", "quickstart", "--set", "network.m=256", "--set",
                                      "stopping.max_iterations=1", "--out", str(out), "--overwrite", "--quiet"])
    assert result.exit_code == 2, result.output
    assert "not an HDF5 file, so not a simulator trace; refusing to overwrite" in result.output
    assert out.read_text() == "keep me" and _others(tmp_path, ["notes.txt"]) == []


# ============================================================================ 3. two runs, one path

def _race_child(path, barrier, queue):
    try:
        barrier.wait(30)
        with TraceWriter.create(path, overwrite=True, attrs={"who": os.getpid()}) as tw:
            tw.set_attrs(b=1.0)
            tw.write_data(X=np.ones((N, 2)), y=np.ones(N))
            tw.append_state(0, {"loss": 1.0, "fire_count": np.arange(N)})
            for t in range(1, 6):
                tw.append_iteration(t, state={"loss": 1.0 / (t + 1), "fire_count": np.arange(N)},
                                    step={"step_seconds": 0.001})
                time.sleep(0.002)
            tw.write_final({"f": np.zeros(N)})
        queue.put((os.getpid(), "ok", ""))
    except BaseException as e:          # noqa: BLE001 - reported to the parent
        queue.put((os.getpid(), type(e).__name__, f"{e}\n{traceback.format_exc()}"))


def test_two_overwrite_runs_racing_for_one_path(tmp_path):
    ctx = mp.get_context("fork")
    path = str(tmp_path / "race.h5")
    _write(path, T=1)                       # an old trace to replace
    outcomes = []
    for _ in range(12):
        barrier, queue = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_race_child, args=(path, barrier, queue)) for _ in range(2)]
        for p in procs:
            p.start()
        results = [queue.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(30)
        for pid, what, detail in results:
            assert what in ("ok", "FileExistsError"), detail
            if what == "FileExistsError":
                assert "refusing to overwrite" in detail.splitlines()[0], detail
        winners = [pid for pid, what, _ in results if what == "ok"]
        assert winners, results
        assert _others(tmp_path, ["race.h5"]) == [], "a partial file was left behind"
        with Trace(path) as tr:
            assert tr.status == "completed" and tr.iterations == 5 and tr.attrs["who"] in winners
            np.testing.assert_array_equal(tr["loss"], 1.0 / (np.arange(6) + 1))
        outcomes.append(sorted(what for _, what, _ in results))
    assert ["FileExistsError", "ok"] in outcomes, f"the runs never overlapped: {outcomes}"


def test_a_writer_whose_file_is_replaced_stops_and_leaves_nothing(tmp_path):
    path = tmp_path / "t.h5"
    stranger = tmp_path / "stranger.h5"
    _write(stranger, T=1, attrs={"scenario_name": "stranger"})
    digest = stranger.read_bytes()
    with pytest.raises(TraceError, match="replaced or removed by another process"):
        with TraceWriter.create(path, attrs={}) as tw:
            tw.append_state(0, {"loss": 1.0})
            shutil.copyfile(stranger, tmp_path / "tmp")
            os.replace(tmp_path / "tmp", path)         # someone else's file now at path
            tw.append_state(1, {"loss": 0.5, "new_metric": 1.0})   # a structural change: detected
    assert path.read_bytes() == digest                  # never clobbered
    assert _others(tmp_path, ["t.h5", "stranger.h5"]) == []


def test_failures_inside_a_writer_leave_no_partial_file(tmp_path):
    with pytest.raises(TypeError):
        TraceWriter.create(tmp_path / "a.h5", attrs={"bad": object()})
    assert os.listdir(tmp_path) == []
    with pytest.raises(TypeError, match="cannot store"):
        with TraceWriter.create(tmp_path / "b.h5", attrs={}) as tw:
            tw.append_state(0, {"loss": 1.0})
            tw.write_data(X=np.array([object()]))
    assert os.listdir(tmp_path) == ["b.h5"]
    with Trace(tmp_path / "b.h5") as tr:
        assert tr.status == "failed" and "cannot store" in tr.attrs["error"]


# ============================================================================ 4. validate: modes and links

def test_validate_keeps_the_mode_and_refuses_read_only(tmp_path, real_run):
    path = tmp_path / "v.h5"
    shutil.copyfile(real_run, path)
    os.chmod(path, 0o640)
    write_validation(path, {"c": {"status": "holds"}})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    os.chmod(path, 0o444)
    before = path.read_bytes()
    with pytest.raises(ReadOnlyTrace, match=r"v\.h5: is read-only \(mode 0444\); /validation not written"):
        write_validation(path, {"c": {"status": "fails"}})
    assert path.read_bytes() == before and stat.S_IMODE(os.stat(path).st_mode) == 0o444
    assert _others(tmp_path, ["v.h5"]) == []
    # the command line: the file stays as it is, and says why
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert "read-only" in result.output
    assert path.read_bytes() == before and stat.S_IMODE(os.stat(path).st_mode) == 0o444


def test_validate_writes_through_a_symbolic_link(tmp_path):
    target = tmp_path / "real.h5"
    _write(target, T=2)
    os.chmod(target, 0o600)
    link = tmp_path / "link.h5"
    link.symlink_to(target.name)            # relative, as users make them
    write_validation(link, {"c": {"status": "holds"}})
    assert link.is_symlink() and os.readlink(link) == "real.h5"
    with Trace(target) as tr:
        assert tr.validation["c"]["status"] == "holds" and tr.iterations == 2
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert _others(tmp_path, ["real.h5", "link.h5"]) == []


def test_validate_of_a_killed_trace_keeps_its_mode_and_scales(tmp_path):
    path = tmp_path / "live.h5"
    tw = _write(path, T=3, finish=False)
    killed = tmp_path / "killed.h5"
    shutil.copyfile(path, killed)           # flagged for SWMR, like a SIGKILLed run's file
    tw.close()
    os.chmod(killed, 0o604)
    write_validation(killed, {"c": {"status": "holds"}})
    assert stat.S_IMODE(os.stat(killed).st_mode) == 0o604
    with h5py.File(killed, "r") as f:      # a clean file now, every axis still on its scale
        assert [d[0].name for d in f["trace/fire_count"].dims] == ["/trace/t", "/trace/point"]
        assert [d[0].name for d in f["trace/phase_seconds"].dims] == ["/trace/step", "/trace/phase"]
        assert [d[0].name for d in f["data/X"].dims] == ["/data/point", "/data/feature"]


# ============================================================================ 5. netCDF-4

def _quantile_trace(path):
    with TraceWriter.create(path, attrs={"scenario_name": "nc"}) as tw:
        tw.write_data(X=np.arange(12.0).reshape(N, 2), y=np.ones(N), a=np.ones(4), W0=np.ones((4, 2)))
        tw.describe("phase_seconds", phases=["query", "solve", "update"])
        tw.describe("phase_flops", phases=["query", "solve", "update"])
        tw.append_state(0, _state(0))
        for t in range(1, 4):
            tw.append_iteration(t, state=_state(t), step=_step(t - 1))
        tw.write_final({"f": np.full(N, 0.5), "moved_neurons": np.array([1, 3]),
                        "coefficients": np.ones((2, N))})


def test_every_axis_has_a_dimension_scale(tmp_path):
    path = tmp_path / "nc.h5"
    _quantile_trace(path)
    with h5py.File(path, "r") as f:
        assert "_NCProperties" in f.attrs and f.attrs["schema_version"] == SCHEMA_VERSION

        def check(name, obj):
            if isinstance(obj, h5py.Dataset) and not h5py.h5ds.is_scale(obj.id):
                assert all(len(d) == 1 for d in obj.dims), f"{name}: an axis without a scale"
        f.visititems(check)
        ids = []
        f.visititems(lambda n, o: ids.append(int(o.attrs["_Netcdf4Dimid"])) if "_Netcdf4Dimid" in o.attrs else None)
        assert sorted(ids) == list(range(len(ids)))          # numbered file-wide, no repeats
        g = f["trace"]
        np.testing.assert_array_equal(g["quantile"][()], DRIFT_QUANTILES)
        assert [p.decode() if isinstance(p, bytes) else p for p in g["phase"][()]] == ["query", "solve", "update"]
        assert g["fire_count"].dims[1][0] == g["flips"].dims[1][0] == g["point"]
        assert g["phase_flops"].dims[1][0] == g["phase_seconds"].dims[1][0]
        loss = g["loss"].attrs
        assert loss["units"] == "1" and loss["units_label"] == "dimensionless"
        assert loss["long_name"] == "training loss" and loss["description"].startswith("training loss")
        assert g["step_seconds"].attrs["units"] == "s"
    with Trace(path) as tr:
        assert "point" not in tr.names() and "phase" not in tr.names() and "quantile" not in tr.names()
        assert set(tr.data) == {"X", "y", "a", "W0"} and set(tr.final) == {"f", "moved_neurons", "coefficients"}
        assert tr.units("fire_count") == "count" and tr.units("loss") == "dimensionless"
        assert tr.dims("drift_quantiles") == ("t", "quantile") and tr.dims("data/X") == ("point", "feature")
        assert list(tr["phase"]) == ["query", "solve", "update"]
        assert "_FillValue" not in tr.metric_attrs("loss") and "_NCProperties" not in tr.attrs


def test_extra_axes_of_unknown_metrics_and_name_clashes(tmp_path):
    path = tmp_path / "u.h5"
    with TraceWriter.create(path, attrs={}) as tw:
        tw.describe("phase_flops", phases=["a", "b"])            # not the phases of phase_seconds
        tw.append_state(0, {"loss": 1.0, "grid": np.ones((2, 3)), "point": 5.0, "fire_count": np.arange(4)})
        tw.append_step(0, {"phase_seconds": [1.0, 2.0], "phase_flops": [3, 4]})
        with pytest.raises(ValueError, match="dimension scale"):
            tw.append_state(1, {"loss": 0.5, "grid_dim1": 1.0})
    with Trace(path) as tr:
        assert tr.dims("grid") == ("t", "grid_dim1", "grid_dim2")
        assert tr.dims("fire_count") == ("t", "fire_count_dim1")     # "point" is a metric here
        assert tr.dims("phase_seconds") == ("step", "phase")      # no phases given: an index dimension
        assert tr.dims("phase_flops") == ("step", "phase_flops_phase")   # other values: its own
        np.testing.assert_array_equal(tr["point"], [5.0])


def test_dimension_names_follow_the_run_sizes(tmp_path):
    """A square W0 (the multilayer's W_L(0), m x m) is not (neuron, feature): its axis 1 gets its own name."""
    path = tmp_path / "ml.h5"
    n, d, m = 4, 3, 5
    with TraceWriter.create(path, attrs={"n": n, "d": d, "m": m}) as tw:
        tw.write_data(X=np.ones((n, d)), y=np.ones(n), a=np.ones(m), W0=np.ones((m, m)))
        tw.write_final({"f": np.ones(n), "W": np.ones((m, m)), "drift": np.ones(m)},
                       dims={"W": ("neuron", "neuron_in")})
    with Trace(path) as tr:
        assert tr.dims("data/X") == ("point", "feature") and tr.dims("data/W0") == ("neuron", "W0_dim1")
        assert tr.dims("final/W") == ("neuron", "neuron_in") and tr.dims("final/drift") == ("neuron",)


def test_xarray_reads_trace_data_and_final(tmp_path):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    path = tmp_path / "nc.h5"
    _quantile_trace(path)
    with xr.open_dataset(path, group="trace", engine="h5netcdf") as ds:
        assert "t" in ds.coords and "step" in ds.coords
        np.testing.assert_array_equal(ds["t"].values, np.arange(4))
        np.testing.assert_array_equal(ds["step"].values, np.arange(1, 4))
        np.testing.assert_allclose(ds["loss"].values, 1.0 / (np.arange(4) + 1))
        assert ds["loss"].dims == ("t",) and ds["step_seconds"].dims == ("step",)
        assert ds["fire_count"].dims == ("t", "point")
        np.testing.assert_array_equal(ds["fire_count"].values, np.arange(N)[None, :] + np.arange(4)[:, None])
        assert ds["drift_quantiles"].dims == ("t", "quantile")
        np.testing.assert_array_equal(ds["quantile"].values, DRIFT_QUANTILES)
        assert list(ds["phase"].values) == ["query", "solve", "update"]
        np.testing.assert_allclose(ds["phase_seconds"].sel(phase="solve").values, 0.002 * np.arange(1, 4))
        ev = ds["eigvals"].values
        assert np.isnan(ev[1::2]).all() and np.allclose(ev[0::2], np.linspace(0.5, 2.0, N))
        assert ds["loss"].attrs["long_name"] == "training loss" and ds["loss"].attrs["units"] == "1"
    with xr.open_dataset(path, group="data", engine="h5netcdf") as ds:
        assert ds["X"].dims == ("point", "feature") and ds["W0"].dims == ("neuron", "feature")
        np.testing.assert_array_equal(ds["X"].values, np.arange(12.0).reshape(N, 2))
    with xr.open_dataset(path, group="final", engine="h5netcdf") as ds:
        assert ds["coefficients"].dims == ("moved", "point") and ds["f"].dims == ("point",)
        np.testing.assert_array_equal(ds["moved_neurons"].values, [1, 3])


def test_netcdf4_reads_a_trace(tmp_path):
    netCDF4 = pytest.importorskip("netCDF4")
    path = tmp_path / "nc.h5"
    _quantile_trace(path)
    with netCDF4.Dataset(path) as ds:
        assert set(ds.groups) == {"data", "trace", "final"}
        g = ds["trace"]
        assert g.dimensions["t"].isunlimited() and len(g.dimensions["t"]) == 4
        assert g["fire_count"].dimensions == ("t", "point")
        np.testing.assert_array_equal(g["fire_count"][:], np.arange(N)[None, :] + np.arange(4)[:, None])
        assert list(g["phase"][:]) == ["query", "solve", "update"]
        assert g["loss"].long_name == "training loss"
        assert ds["data"]["X"].dimensions == ("point", "feature")
        assert ds.getncattr("schema_version") == SCHEMA_VERSION


def test_a_real_run_opens_with_xarray(real_run):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    path = real_run
    with Trace(path) as tr:
        loss, phases, T = tr["loss"], tr.metric_attrs("phase_seconds")["phases"], tr.iterations
    with xr.open_dataset(path, group="trace", engine="h5netcdf") as ds:
        assert ds.sizes["t"] == T + 1 and ds.sizes["step"] == T
        np.testing.assert_array_equal(ds["loss"].values, loss)
        assert list(ds["phase"].values) == phases
        assert ds["fire_count"].dims == ("t", "point")
    for group in ("data", "final"):
        with xr.open_dataset(path, group=group, engine="h5netcdf") as ds:
            assert ds.data_vars


def _write_schema_1(path):
    """A trace as the writer of schema 1 made it: scales t and step only, label units."""
    with h5py.File(path, "w", libver=("v110", "v110")) as f:
        for k, v in {"schema_version": 1, "status": "completed", "error": "", "scenario_name": "old"}.items():
            f.attrs[k] = v
        g = f.create_group("trace")
        t = g.create_dataset("t", data=np.arange(3), maxshape=(None,), chunks=(1024,))
        t.make_scale("t")
        s = g.create_dataset("step", data=np.arange(1, 3), maxshape=(None,), chunks=(1024,))
        s.make_scale("step")
        for name, data, scale, units in (("loss", [1.0, 0.5, 0.25], t, "dimensionless"),
                                         ("fire_count", np.ones((3, 4), dtype=np.int64), t, "count"),
                                         ("phase_seconds", np.ones((2, 2)), s, "s")):
            data = np.asarray(data)
            ds = g.create_dataset(name, data=data, maxshape=(None,) + data.shape[1:], chunks=(16,) + data.shape[1:])
            ds.attrs["units"], ds.attrs["description"] = units, name
            ds.attrs["kind"] = "state" if scale is t else "step"
            ds.dims[0].attach_scale(scale)
            ds.dims[0].label = scale.name.rsplit("/", 1)[-1]
        g["phase_seconds"].attrs["phases"] = ["a", "b"]
        f.create_group("data")["X"] = np.ones((4, 2))


def test_schema_1_traces_still_read(tmp_path):
    path = tmp_path / "v1.h5"
    _write_schema_1(path)
    with Trace(path) as tr:
        assert tr.schema_version == 1 and tr.iterations == 2
        assert tr.names() == ["fire_count", "loss", "phase_seconds"]
        assert tr.units("fire_count") == "count" and tr.dims("fire_count") == ("t", "")
        np.testing.assert_array_equal(tr["loss"], [1.0, 0.5, 0.25])
        assert tr["phase_seconds"].shape == (2, 2) and set(tr.data) == {"X"}
    write_validation(path, {"c": {"status": "holds"}})
    with Trace(path) as tr:
        assert tr.validation["c"]["status"] == "holds" and tr.schema_version == 1


# ============================================================================ 6. validate without rows

def test_validate_refuses_a_trace_without_rows(tmp_path, real_run):
    path = tmp_path / "full.h5"
    shutil.copyfile(real_run, path)
    no_trace = tmp_path / "no-trace.h5"
    shutil.copyfile(path, no_trace)
    with h5py.File(no_trace, "r+") as f:
        del f["trace"]
    no_loss = tmp_path / "no-loss.h5"
    shutil.copyfile(path, no_loss)
    with h5py.File(no_loss, "r+") as f:
        f["trace/loss"].dims[0].detach_scale(f["trace/t"])
        del f["trace/loss"]
    empty = tmp_path / "empty.h5"
    TraceWriter.create(empty, attrs={"n": N}).finish("failed", "init: singular Gram")
    with h5py.File(no_loss, "r+") as f:
        assert "trace/loss" not in f and "trace/residual_norm" in f
    expected = {no_trace: "no /trace group (status completed): not a complete trace",
                no_loss: "/trace lacks 'loss', which every run records",
                empty: "no /trace group (status failed, error: init: singular Gram)"}
    for p, message in expected.items():
        with Trace(p) as tr:
            with pytest.raises(TraceError, match=message.replace("(", r"\(").replace(")", r"\)")):
                run_checks(tr)
        result = CliRunner().invoke(cli, ["validate", str(p)])
        assert result.exit_code != 0 and HOLDS not in result.output, result.output
    with Trace(path) as tr:
        assert run_checks(tr)                    # the complete one still validates
