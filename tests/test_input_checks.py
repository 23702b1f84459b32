"""Bad input is refused when the scenario loads: one line naming the field or file, exit 2, nothing
written, and `simulator show` refuses it too. Solver options against the sizes (sketch_rows >= n, ...),
64-bit integers, the data file's format, an empty scenario file."""

import math

import numpy as np
import pytest
from click.testing import CliRunner

from simulator.cli import cli
from simulator.config import ConfigError, load_scenario, scenario_from_dict
from simulator.options import INT_MAX, BadValue, Field, check_value
from simulator.solvers import HASHED_ROWS_MAX, PAPER_EPS_MAX, SOLVER_OPTIONS, check_options


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused(tmp_path, *args, field, commands=("show", "run")):
    """`show` and `run` both exit 2 with one line naming `field`; the run writes nothing."""
    lines = []
    for command in commands:
        extra = ["--out", tmp_path / "t.h5", "--quiet"] if command == "run" else []
        result = invoke(command, *args, *extra)
        assert result.exit_code == 2, (command, result.output)
        out = [ln for ln in result.output.splitlines() if ln.strip()]
        assert len(out) == 1 and out[0].startswith("error: ") and field in out[0], (command, result.output)
        lines.append(out[0])
    assert list(tmp_path.iterdir()) == []
    return lines[0]


# -- 1. solver options are checked when the scenario loads --------------------------------------
SOLVER_CASES = [
    # (scenario, overrides, the field named, a word of the reason)
    ("quickstart", ["solver.sketch_rows=1"], "solver.sketch_rows", "s >= n"),
    ("paper-default", ["solver.sketch_rows=1"], "solver.sketch_rows", "s >= n"),
    ("paper-default", ["solver.eps_sketch=5"], "solver.eps_sketch", "(0, 1)"),
    ("quickstart", ["solver.eps_sketch=0"], "solver.eps_sketch", "(0, 1)"),
    ("bpsw", ["solver.eps_sketch=0"], "solver.eps_sketch", "(0, 1)"),
    ("bpsw", ["solver.sketch_rows=2"], "solver.sketch_rows", "n = 16"),
    ("bpsw", ["solver.sketch_rows=2", "solver.sketch=gaussian"], "solver.sketch_rows", "n = 16"),
    ("bpsw", ["solver.sketch_rows=2", "solver.sketch=srht"], "solver.sketch_rows", "n = 16"),
    ("bpsw", ["solver.sketch_rows=15", "solver.sketch=countsketch"], "solver.sketch_rows", "at least 16"),
    ("sublinear-fast", ["solver.regression=pcg", "solver.sketch_rows=1"], "solver.sketch_rows", "s >= n"),
    ("quickstart", ["solver.sketch_rows=2^33"], "solver.sketch_rows", "2^32"),
    ("quickstart", ["solver.sketch_rows=20", "solver.sketch_nnz=100", "solver.regression=pcg"], "solver.sketch_nnz",
     "at most 20"),
    ("quickstart", ["solver.sketch_rows=512"], "solver.sketch_rows", "at least 852"),  # diverged: loss 5e141, exit 0
    ("bpsw", ["solver.sketch=gaussian"], "solver.sketch", "osnap or countsketch"),  # S would be 15112 × 524288
    ("bpsw", ["solver.sketch=srht", "network.m=2^20"], "solver.sketch", "osnap or countsketch"),
    ("bpsw", ["solver.sketch=gaussian", "solver.sketch_rows=2^20", "network.m=64"], "solver.sketch", "1048576·64·32"),
    ("quickstart", ["solver.sketch_nnz=100000"], "solver.sketch_nnz", "at most"),
    ("quickstart", ["solver.eps_sketch=0.5"], "solver.eps_sketch", "regression = paper"),
    ("quickstart", ["solver.eps_sketch=1e-300"], "solver.eps_sketch", "too small"),
    ("quickstart", ["solver.eps_sketch=1e-6"], "solver.eps_sketch", "2^32"),
    ("quickstart", ["solver.eps_reg=0"], "solver.eps_reg", "(0, 1)"),
    ("quickstart", ["solver.eps_reg=1"], "solver.eps_reg", "(0, 1)"),
    ("bpsw", ["solver.cg_tol=0"], "solver.cg_tol", "(0, 1)"),
    ("multilayer", ["solver.cg_tol=0", "solver.regression=preconditioned"], "solver.cg_tol", "(0, 1)"),
    ("gd", ["solver.learning_rate=0"], "solver.learning_rate", "> 0"),
    ("quickstart", ["solver.step=gd", "solver.learning_rate=0"], "solver.learning_rate", "> 0"),
    ("preprocess-weights", ["solver.learning_rate=0"], "solver.learning_rate", "> 0"),
    ("multilayer", ["solver.sketch_rows=3"], "solver.sketch_rows", "n = 8"),  # the class's own check
    ("multilayer", ["solver.sketch=gaussian"], "solver.sketch", "tensorsketch"),
]


@pytest.mark.parametrize("name, overrides, field, reason", SOLVER_CASES,
                         ids=[f"{c[0]}:{' '.join(c[1])}" for c in SOLVER_CASES])
def test_solver_options_are_refused_at_load(name, overrides, field, reason):
    with pytest.raises(ConfigError) as ei:
        load_scenario(name, overrides)
    msg = str(ei.value)
    assert "\n" not in msg and msg.startswith(f"--set {field}: ") and reason in msg, msg
    assert ei.value.field == field and ei.value.source == "--set"


@pytest.mark.parametrize("name, overrides, field", [
    ("quickstart", ["solver.sketch_rows=1"], "solver.sketch_rows"),
    ("bpsw", ["solver.sketch_rows=2", "solver.sketch=srht"], "solver.sketch_rows"),
    ("paper-default", ["solver.eps_sketch=5"], "solver.eps_sketch"),
    ("gd", ["solver.learning_rate=0"], "solver.learning_rate"),
])
def test_show_and_run_refuse_them_exit_2_nothing_written(tmp_path, name, overrides, field):
    args = [name]
    for o in overrides:
        args += ["--set", o]
    refused(tmp_path, *args, field=f"--set {field}:")


def test_a_file_key_is_blamed_on_the_file(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('name = "x"\n[data]\nn = 32\n[solver]\nname = "bpsw"\nsketch_rows = 20\n')
    with pytest.raises(ConfigError) as ei:
        load_scenario(p)
    assert str(ei.value).startswith(f"{p}: solver.sketch_rows: s = 20 rows cannot sketch the n = 32 columns")
    # the same rows pass for n = 16, and --set data.n makes them fail, still blamed on the file's key
    assert load_scenario(p, ["data.n=16"]).solver.options["sketch_rows"] == 20
    with pytest.raises(ConfigError, match=rf"^{p}: solver.sketch_rows: .*n = 64"):
        load_scenario(p, ["data.n=64"])


def test_an_option_the_run_does_not_use_is_not_size_checked():
    # exact-gram never sketches: sketch_rows is inert there (a sweep over regression may carry it)
    s = load_scenario("sublinear-fast", ["solver.sketch_rows=1"])
    assert s.solver.options["sketch_rows"] == 1
    assert load_scenario("quickstart", ["solver.step=gd", "solver.sketch_rows=1"]).solver.options["sketch_rows"] == 1
    # pcg converges at any ε < 1; only the paper's iteration needs ε < 1 - 1/√2
    assert load_scenario("quickstart", ["solver.regression=pcg", "solver.eps_sketch=0.9"])
    assert load_scenario("bpsw", ["solver.eps_sketch=0.9"])
    assert load_scenario("quickstart", ["solver.eps_sketch=0.29"])
    assert load_scenario("quickstart", ["solver.regression=pcg", "solver.sketch_rows=16"])  # s = n: the least
    assert load_scenario("quickstart", ["solver.sketch_rows=852"])  # the paper's iteration: n/(√(1+ε) − 1)²


def test_sizes_from_a_data_file_are_checked_as_far_as_known(tmp_path):
    # n unknown at load (taken from the file): s >= 2 is checked now, s >= n by the runner once n is known
    p = tmp_path / "s.toml"
    p.write_text('name = "x"\n[data]\nkind = "file"\npath = "d.csv"\n[solver]\nname = "bpsw"\n')
    assert load_scenario(p, ["solver.sketch_rows=8"]).data.n is None
    with pytest.raises(ConfigError, match=r"^--set solver.sketch_rows: s = 1 rows .*n >= 2, from the data file"):
        load_scenario(p, ["solver.sketch_rows=1"])
    with pytest.raises(ConfigError, match=r"^--set solver.sketch_rows: .*n = 10 columns"):
        load_scenario(p, ["solver.sketch_rows=8", "data.n=10"])  # n given: checked


def test_check_options_directly():
    check_options("sublinear", 16, 16, 4096, {})  # the defaults work
    check_options("bpsw", None, None, 4096, {"sketch_rows": 2})  # n unknown: only s >= 2
    check_options("gauss-newton", 16, 16, 4096, {})
    for name in SOLVER_OPTIONS:
        check_options(name, 8, 8, 256, {})  # every solver's defaults pass at small sizes
    with pytest.raises(ValueError, match=r"^solver.sketch_rows: "):
        check_options("bpsw", 16, 32, 16384, {"sketch_rows": 15})
    with pytest.raises(ValueError, match=r"^solver.sketch_rows: .*2\^32"):
        check_options("bpsw", 16, 32, 16384, {"sketch_rows": HASHED_ROWS_MAX + 1})
    check_options("bpsw", 16, 32, 16384, {"sketch_rows": HASHED_ROWS_MAX + 1, "sketch": "srht"})  # memory: runner
    assert math.isclose(PAPER_EPS_MAX, 1 - 1 / math.sqrt(2))


def test_a_huge_sketch_is_left_to_the_memory_guard(tmp_path):
    # loads (the runner's memory guard names what drives the estimate), and the run exits 2 writing nothing
    assert load_scenario("quickstart", ["solver.sketch_rows=1000000000"])
    out = tmp_path / "t.h5"
    result = invoke("run", "quickstart", "--set", "solver.sketch_rows=1000000000", "--out", out, "--quiet")
    assert result.exit_code == 2 and "GiB" in result.output and "sketch_rows" in result.output, result.output
    assert not out.exists()


# -- 2. integers beyond 64 bits (a seed >= 2^63) -----------------------------------------------
def test_seed_range(tmp_path):
    assert load_scenario("quickstart", seed=INT_MAX).seed == 2**63 - 1
    assert load_scenario("quickstart", [f"seed={2**63 - 1}"]).seed == 2**63 - 1
    for kwargs, prefix in (({"seed": 2**63}, "--seed: "), ({"overrides": [f"seed={2**63}"]}, "--set seed: ")):
        with pytest.raises(ConfigError) as ei:
            load_scenario("quickstart", **kwargs)
        assert str(ei.value) == (f"{prefix}must be a non-negative integer that fits in 64 bits "
                                 f"(at most 2^63 - 1 = 9223372036854775807), got 9223372036854775808")
    line = refused(tmp_path, "quickstart", "--seed", 2**63, field="--seed:", commands=("run",))  # show has no --seed
    assert "2^63 - 1" in line
    refused(tmp_path, "quickstart", "--set", f"seed={2**63}", field="--set seed:")


def test_every_int_field_is_64_bit_and_huge_ints_never_overflow():
    f = Field("int", 1, "", minimum=1)
    assert check_value(f, INT_MAX) == INT_MAX
    with pytest.raises(BadValue, match="64 bits"):
        check_value(f, INT_MAX + 1)
    with pytest.raises(BadValue, match="an integer of 401 digits"):
        check_value(f, 10**400)
    g = Field("float", 0.1, "", minimum=0.0)
    with pytest.raises(BadValue, match=r"\(finite\), got an integer of 401 digits"):
        check_value(g, 10**400)  # float(10**400) raises OverflowError
    for key in ("network.m=10^400", "data.noise=10^400", "metrics.every=2^64", "stopping.max_iterations=2^63",
                "network.m=10^1000000000", "network.b=-2^2"):
        with pytest.raises(ConfigError, match=rf"^--set {key.split('=')[0]}: "):
            load_scenario("quickstart", [key])


def test_powers_in_overrides():
    from simulator.config import parse_override_value

    assert parse_override_value("-2^2") == -4  # the sign binds looser than the power, as written
    assert parse_override_value("+2^3") == 8 and parse_override_value("2**10") == 1024
    assert parse_override_value("10^1000000000") == "10^1000000000"  # not computed: refused as a string


# -- 3. data files: strict header, formats named, nothing dropped ------------------------------
def csv_rows(n=10, d=3, seed=0):
    A = np.random.default_rng(seed).standard_normal((n, d + 1))
    return [",".join(repr(float(v)) for v in row) for row in A]


FILE = ["--set", "data.kind=file", "--set", "solver.name=gauss-newton", "--set", "network.m=256"]


def test_a_typo_in_the_first_row_is_not_a_header(tmp_path):
    rows = csv_rows()
    rows[0] = rows[0].split(",", 1)[0] + ",x," + rows[0].split(",", 2)[2]
    p = tmp_path / "typo.csv"
    p.write_text("\n".join(rows) + "\n")
    out = tmp_path / "o"
    out.mkdir()
    result = invoke("run", "quickstart", *FILE, "--set", f"data.path={p}", "--out", out / "t.h5", "--quiet")
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line and f"{p}: line 1, column 2: 'x' is not a number" in line
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("kind", ["npy", "npz", "bin", "empty", "header-only", "no-xy", "group", "trace"])
def test_unusable_data_files_name_the_problem(tmp_path, kind):
    import h5py

    A = np.random.default_rng(1).standard_normal((6, 3))
    p = tmp_path / {"npy": "x.npy", "npz": "x.npz", "bin": "x.dat", "empty": "x.csv", "header-only": "x.csv",
                    "no-xy": "x.h5", "group": "x.h5", "trace": "x.h5"}[kind]
    if kind == "npy":
        np.save(p, A)
    elif kind == "npz":
        np.savez(p, X=A[:, :2], y=A[:, 2])
    elif kind == "bin":
        p.write_bytes(bytes(range(256)))
    elif kind == "empty":
        p.write_text("")
    elif kind == "header-only":
        p.write_text("x1,x2,y\n")
    else:
        with h5py.File(p, "w") as f:
            if kind == "no-xy":
                f["A"] = A
            elif kind == "group":
                f.create_group("X")
                f["y"] = A[:, 0]
            else:
                f["data/X"] = A
                f["data/y"] = A[:, 0]
    expect = {"npy": "unsupported format (a NumPy .npy file); use HDF5 (datasets X (n, d) and y (n,)) or CSV",
              "npz": "unsupported format (a zip archive, e.g. NumPy .npz)",
              "bin": "unsupported format (a binary file, not text)",
              "empty": "no data rows (the file is empty or only comments)",
              "header-only": "no data rows (only the header line 1)",
              "no-xy": "no dataset 'X' (found: A)",
              "group": "'X' is a group, not a dataset",
              "trace": "a simulator trace? its data are /data/X and /data/y"}[kind]
    out = tmp_path / "o"
    out.mkdir()
    result = invoke("run", "quickstart", *FILE, "--set", f"data.path={p}", "--out", out / "t.h5", "--quiet")
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line and str(p) in line and expect in line, line
    assert "codec" not in line and list(out.iterdir()) == []


# -- 4. an empty scenario file ----------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n# and another\n"])
def test_an_empty_scenario_file_is_refused(tmp_path, text):
    p = tmp_path / "blank.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as ei:
        load_scenario(p)
    assert str(ei.value) == (f"{p}: empty scenario: the file sets no key, so every setting would take its "
                             f'default; write at least one (e.g. name = "blank"), or run a packaged scenario '
                             f"such as quickstart")
    (tmp_path / "o").mkdir()
    result = invoke("run", p, "--out", tmp_path / "o" / "t.h5", "--quiet")
    assert result.exit_code == 2 and result.output.startswith(f"error: {p}: empty scenario")
    assert list((tmp_path / "o").iterdir()) == []
    assert invoke("show", p).exit_code == 2
    # one key is enough: the rest takes its defaults, and the name the file's stem
    p.write_text("seed = 1\n")
    assert load_scenario(p).name == "blank"


# -- 5. other values that passed the loader and failed at run time ----------------------------
def test_d_1_is_refused():
    # every unit-norm point in d = 1 is +1 or -1: any two are parallel or antipodal (δ = 0)
    with pytest.raises(ConfigError, match=r"^--set data.d: must be an integer >= 2, got 1$"):
        load_scenario("quickstart", ["data.d=1"])


def test_cluster_centres_beyond_use_are_refused():
    with pytest.raises(ConfigError, match=r"^--set data.clusters: 1000000000000 clusters .* give at most n$"):
        load_scenario("quickstart", ["data.kind=clusters", "data.clusters=10^12"])
    # more clusters than points is fine while the centres are small (a sweep over n from 2)
    assert load_scenario("quickstart", ["data.kind=clusters", "data.clusters=100", "data.n=4"]).data.clusters == 100


def test_huge_noise_still_normalises():
    from simulator.data import check_dataset, make_dataset

    X, y = make_dataset("clusters", 16, 8, np.random.default_rng(0), noise=1e300)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=0, atol=1e-14)
    assert check_dataset(X, y) is None


def test_scenarios_still_load_and_round_trip():
    from simulator.config import SCENARIO_DIR, scenario_to_dict

    for p in sorted(SCENARIO_DIR.glob("*.toml")):
        s = load_scenario(p)
        assert scenario_from_dict(scenario_to_dict(s)) == s
