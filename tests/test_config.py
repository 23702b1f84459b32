"""Scenario loading, validation messages, overrides and TOML round trip (simulator.config)."""

import dataclasses
import math
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.config import (
    SCENARIO_DIR,
    SCHEMA,
    TOP_FIELDS,
    ConfigError,
    DataConfig,
    NetworkConfig,
    Scenario,
    list_scenarios,
    load_scenario,
    override_scenario,
    parse_override_value,
    resolve_b,
    scenario_from_dict,
    scenario_to_dict,
    scenario_to_toml,
)
from simulator.models import MODEL_NAMES
from simulator.ntk import default_b
from simulator.options import Field, check_value
from simulator.solvers import PAPER_EPS_MAX, SOLVER_MODELS, SOLVER_OPTIONS

SCENARIOS = sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def load_text(tmp_path, text):
    return load_scenario(write(tmp_path, text))


# --------------------------------------------------------------------------- scenario files


def test_required_scenarios_present():
    for name in ("quickstart", "paper-default", "gd", "gauss-newton", "bpsw", "sublinear-fast"):
        assert name in SCENARIOS


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_scenario_loads(name):
    s = load_scenario(name)
    assert s.name == name  # file stem == name, so `simulator run NAME` matches `list`
    assert s.description.strip()
    assert s.solver.name in SOLVER_OPTIONS
    assert set(s.solver.options) == set(SOLVER_OPTIONS[s.solver.name])
    # the same file loads by path too (top-level scenarios/ is a link to it)
    assert load_scenario(SCENARIO_DIR / f"{name}.toml") == s


@pytest.mark.parametrize("name", SCENARIOS)
def test_round_trip_toml(name, tmp_path):
    s = load_scenario(name)
    text = scenario_to_toml(s)
    s2 = load_scenario(write(tmp_path, text))
    assert s2 == s
    assert scenario_to_toml(s2) == text
    # every key explicit (except an unset b / alpha_bar)
    raw = tomllib.loads(text)
    for sec, fields in SCHEMA.items():
        for k, f in fields.items():
            if not f.optional:
                assert k in raw[sec], f"{sec}.{k} missing"
    assert set(raw["solver"]) - {"name"} == set(SOLVER_OPTIONS[s.solver.name])
    # commented form parses to the same thing
    assert load_scenario(write(tmp_path, scenario_to_toml(s, comments=True), "c.toml")) == s


def test_round_trip_dict():
    for name in SCENARIOS:
        s = load_scenario(name)
        assert scenario_from_dict(scenario_to_dict(s)) == s


def test_list_scenarios():
    listed = dict(list_scenarios())
    assert sorted(listed) == SCENARIOS
    assert all(isinstance(d, str) and d for d in listed.values())


def test_scenario_contents():
    q = load_scenario("quickstart")
    assert (q.data.n, q.data.d, q.network.m) == (16, 16, 4096)
    assert q.solver.name == "sublinear" and q.solver.options["regression"] == "paper"
    assert q.solver.options["index"] == "tree"
    assert q.stopping.max_iterations == 10 and q.stopping.rel_loss_target == 1e-6
    p = load_scenario("paper-default")
    assert (p.network.m, p.data.n, p.data.d) == (65536, 16, 32)
    assert p.network.b is None and p.network.alpha_bar is None
    assert math.isclose(resolve_b(p.network), math.sqrt(0.48 * math.log(65536)))
    assert p.solver.options == {**{k: o.default for k, o in SOLVER_OPTIONS["sublinear"].items()},
                                "regression": "paper", "index": "tree", "leaf_update": "inner-product",
                                "eps_sketch": 0.1, "eps_reg": "auto"}
    f = load_scenario("sublinear-fast")
    assert (f.solver.options["regression"], f.solver.options["index"], f.solver.options["leaf_update"]) \
        == ("exact-gram", "active", "gram")
    assert load_scenario("gd").solver.name == "gd"
    assert load_scenario("gauss-newton").solver.name == "gauss-newton"
    assert load_scenario("bpsw").solver.name == "bpsw"


# --------------------------------------------------------------------------- defaults, b


def test_defaults(tmp_path):
    s = load_text(tmp_path, 'name = "tiny"\n')
    assert s == Scenario(name="tiny", solver=s.solver)
    assert s.seed == 0 and s.data == DataConfig() and s.network == NetworkConfig()
    assert s.solver.name == "sublinear"
    assert s.solver.options == {k: o.default for k, o in SOLVER_OPTIONS["sublinear"].items()}
    assert s.stopping.max_iterations == 20 and s.stopping.loss_target == 0.0
    assert s.metrics.every == 1 and s.metrics.flips and s.metrics.gram and not s.metrics.spectrum
    assert s.theory.rho == 0.1
    assert s.output.path == "" and s.output.store_W0_max == 16777216


def test_dataclass_defaults_are_the_schema_defaults():
    # each default is written once (in SCHEMA / TOP_FIELDS); the dataclasses must agree with it
    for sec, fields in SCHEMA.items():
        dc = {f.name: f for f in dataclasses.fields(getattr(Scenario(name="x"), sec))}
        extra = {"options"} if sec == "solver" else set()  # solver options: SOLVER_OPTIONS
        assert set(dc) - extra == set(fields), sec
        for k, f in fields.items():
            assert dc[k].default == f.default, f"{sec}.{k}"
            assert type(dc[k].default) is type(f.default), f"{sec}.{k}"
    top = {f.name: f for f in dataclasses.fields(Scenario)}
    for k, f in TOP_FIELDS.items():
        if k != "name":  # required (the file stem when loading a file)
            assert top[k].default == f.default, k


def test_every_default_passes_its_own_check():
    tables = [TOP_FIELDS, *SCHEMA.values(), *SOLVER_OPTIONS.values()]
    for table in tables:
        for k, f in table.items():
            assert isinstance(f, Field), k
            if f.default is not None:
                assert check_value(f, f.default) == f.default, k


def test_network_kind(tmp_path):
    assert NetworkConfig().kind == "two-layer" and "two-layer" in MODEL_NAMES
    for kind in MODEL_NAMES:
        solver = next(name for name, kinds in SOLVER_MODELS.items() if kind in kinds)
        s = load_text(tmp_path, f'name="x"\n[network]\nkind = "{kind}"\nm = 64\n[solver]\nname = "{solver}"\n')
        assert s.network.kind == kind and s.network.m == 64
        text = scenario_to_toml(s)
        assert tomllib.loads(text)["network"]["kind"] == kind
        assert next(k for k in tomllib.loads(text)["network"]) == "kind"  # first in [network]
        assert load_scenario(write(tmp_path, text, "rt.toml")) == s
        assert scenario_from_dict(scenario_to_dict(s)) == s
    assert load_scenario("quickstart", ["network.kind=two-layer"]).network.kind == "two-layer"
    assert "the model trained" in scenario_to_toml(load_scenario("quickstart"), comments=True)


def test_network_kind_unknown(tmp_path):
    path = write(tmp_path, 'name = "x"\n[network]\nkind = "two-layr"\n')
    with pytest.raises(ConfigError) as ei:
        load_scenario(path)
    assert str(ei.value) == (f'{path}: network.kind: must be one of "two-layer", "multilayer"; got "two-layr" '
                             '(did you mean "two-layer"?)')
    with pytest.raises(ConfigError) as ei:
        load_scenario("quickstart", ["network.kind=three-layer"])
    msg = str(ei.value)
    assert msg.startswith("--set network.kind: must be one of") and "\n" not in msg
    with pytest.raises(ConfigError, match=r"network.kind: must be a string, got integer 2"):
        load_text(tmp_path, 'name = "x"\n[network]\nkind = 2\n')


def test_name_defaults_to_file_stem(tmp_path):
    assert load_scenario(write(tmp_path, "seed = 3\n", "my-run.toml")).name == "my-run"
    with pytest.raises(ConfigError, match="name: missing required key"):
        scenario_from_dict({})


def test_resolve_b():
    m = 4096
    assert resolve_b(NetworkConfig(m=m)) == pytest.approx(math.sqrt(0.48 * math.log(m)))
    assert resolve_b(NetworkConfig(m=m, b=1.5)) == 1.5
    assert resolve_b(NetworkConfig(m=m, alpha_bar=0.04)) == pytest.approx(math.sqrt(0.5 * 0.96 * math.log(m)))
    assert resolve_b(NetworkConfig(m=m, alpha_bar=0.2)) == pytest.approx(math.sqrt(0.4 * math.log(m)))


def test_int_accepted_for_float(tmp_path):
    s = load_text(tmp_path, 'name="x"\n[network]\nb = 2\n[theory]\nrho = 0.05\n[data]\nnoise = 0\n')
    assert s.network.b == 2.0 and isinstance(s.network.b, float)
    assert isinstance(s.data.noise, float)


def test_file_kind(tmp_path):
    s = load_text(tmp_path, 'name="x"\n[data]\nkind="file"\npath="pts.csv"\n')
    assert s.data.n is None and s.data.d is None
    assert s.data.path == str(tmp_path.resolve() / "pts.csv")  # relative to the scenario file
    assert load_scenario(write(tmp_path, scenario_to_toml(s), "rt.toml")) == s
    s = load_text(tmp_path, 'name="x"\n[data]\nkind="file"\npath="/abs/pts.h5"\nn=8\n')
    assert s.data.n == 8 and s.data.path == "/abs/pts.h5"
    assert s.data.dataset_params()["path"] == "/abs/pts.h5"


# --------------------------------------------------------------------------- errors

ERROR_CASES = [
    # (id, toml body after name = "x", expected substring(s) of the message)
    ("unknown-key", "[network]\nmm = 3\n", ["network.mm", "did you mean network.m"]),
    ("unknown-section", "[netwrk]\nm = 3\n", ["netwrk", "did you mean network"]),
    ("unknown-top-key", "sed = 3\n", ["sed", "did you mean seed"]),
    ("wrong-type-str-for-int", '[network]\nm = "big"\n', ["network.m", "positive integer", 'string "big"']),
    ("wrong-type-float-for-int", "[data]\nn = 16.0\n", ["data.n", "float 16.0"]),
    ("bool-for-int", "[network]\nm = true\n", ["network.m", "boolean true"]),
    ("bool-for-float", "[theory]\nrho = false\n", ["theory.rho", "boolean false"]),
    ("int-for-bool", "[metrics]\nspectrum = 1\n", ["metrics.spectrum", "true or false"]),
    ("m-negative", "[network]\nm = -3\n", ["network.m: must be a positive integer, got -3"]),
    ("m-zero", "[network]\nm = 0\n", ["network.m", "got 0"]),
    ("n-lt-2", "[data]\nn = 1\n", ["data.n", ">= 2"]),
    ("d-lt-1", "[data]\nd = 0\n", ["data.d", "got 0"]),
    ("b-negative", "[network]\nb = -0.5\n", ["network.b", ">= 0", "-0.5"]),
    ("b-nan", "[network]\nb = nan\n", ["network.b", "nan"]),
    ("rho-inf", "[theory]\nrho = inf\n", ["theory.rho", "inf"]),
    ("rho-range", "[theory]\nrho = 1\n", ["theory.rho", "(0, 1)"]),
    ("alpha-bar-range", "[network]\nalpha_bar = 1.0\n", ["network.alpha_bar", "[0, 1)"]),
    ("b-and-alpha-bar", "[network]\nb = 1.0\nalpha_bar = 0.04\n", ["network.alpha_bar", "network.b"]),
    ("every-zero", "[metrics]\nevery = 0\n", ["metrics.every"]),
    ("max-iter-negative", "[stopping]\nmax_iterations = -1\n", ["stopping.max_iterations"]),
    ("seed-negative", "seed = -1\n", ["seed: must be a non-negative integer"]),
    ("unknown-solver", '[solver]\nname = "sublinar"\n', ["solver.name", "did you mean \"sublinear\"", "gauss-newton"]),
    ("unknown-solver-option", '[solver]\nname = "sublinear"\nregresion = "pcg"\n',
     ["solver.regresion", "did you mean solver.regression", "eps_reg"]),
    ("option-of-other-solver", '[solver]\nname = "gd"\nregression = "pcg"\n', ["solver.regression", "learning_rate"]),
    ("gauss-newton-no-options", '[solver]\nname = "gauss-newton"\ncg_tol = 1e-3\n', ["solver.cg_tol", "no options"]),
    ("bad-choice", '[solver]\nregression = "pgc"\n', ["solver.regression", '"paper"', "did you mean \"pcg\""]),
    ("bad-data-kind", '[data]\nkind = "cube"\n', ["data.kind", '"sphere"']),
    ("solver-option-type", "[solver]\nsketch_nnz = 2.5\n", ["solver.sketch_nnz", "float 2.5"]),
    ("solver-option-minimum", "[solver]\neps_sketch = -0.1\n", ["solver.eps_sketch", "(0, 1)", "-0.1"]),
    ("solver-option-bad-auto", '[solver]\nsketch_nnz = "auto"\n', ["solver.sketch_nnz", 'string "auto"']),
    ("solver-option-auto-typo", '[solver]\nsketch_rows = "atuo"\n', ["solver.sketch_rows", '"auto"']),
    ("section-not-table", "network = 3\n", ["network", "table"]),
    ("file-without-path", '[data]\nkind = "file"\n', ["data.path"]),
    ("bad-name", None, ["name", "identifier"]),
]


@pytest.mark.parametrize("case_id,body,expected", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_config_errors(case_id, body, expected, tmp_path):
    text = 'name = "bad name"\n' if body is None else 'name = "x"\n' + body
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as ei:
        load_scenario(path)
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: ")
    for part in expected:
        assert part in msg, (part, msg)
    assert isinstance(ei.value, ValueError)


def test_ok_values_pass(tmp_path):
    s = load_text(tmp_path, 'name="x"\n[solver]\nsketch_rows = 1024\neps_reg = 1e-12\n[network]\nalpha_bar = 0\n')
    assert s.solver.options["sketch_rows"] == 1024 and s.solver.options["eps_reg"] == 1e-12
    assert s.network.alpha_bar == 0.0


def test_malformed_toml(tmp_path):
    path = write(tmp_path, 'name = "x"\n[network\nm = 3\n')
    with pytest.raises(ConfigError) as ei:
        load_scenario(path)
    msg = str(ei.value)
    assert msg.startswith(str(path)) and "malformed TOML" in msg and "line 2" in msg


def test_unreadable_file_directory(tmp_path):
    d = tmp_path / "dir.toml"
    d.mkdir()
    with pytest.raises(ConfigError, match="dir.toml: cannot read"):
        load_scenario(d)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_scenario(tmp_path / "nope.toml")


def test_not_utf8(tmp_path):
    p = tmp_path / "b.toml"
    p.write_bytes(b'name = "\xff"\n')
    with pytest.raises(ConfigError, match="b.toml: cannot read: not UTF-8"):
        load_scenario(p)


def test_unknown_scenario_name():
    with pytest.raises(ConfigError) as ei:
        load_scenario("quickstrat")
    msg = str(ei.value)
    assert "quickstrat" in msg and "did you mean \"quickstart\"" in msg
    for name in SCENARIOS:
        assert name in msg


# --------------------------------------------------------------------------- overrides


@pytest.mark.parametrize("text,value", [
    ("65536", 65536), ("2^16", 65536), ("2**10", 1024), ("1e-3", 1e-3), ("0.5", 0.5), ("-3", -3),
    ("true", True), ("false", False), ("pcg", "pcg"), ('"quoted"', "quoted"), ("gauss-newton", "gauss-newton"),
    ("/tmp/x.csv", "/tmp/x.csv"), ("1_000", 1000), ("inf", math.inf),
])
def test_parse_override_value(text, value):
    got = parse_override_value(text)
    assert got == value and type(got) is type(value)


def test_overrides_typed():
    s = load_scenario("quickstart", ["network.m=2^16", "solver.eps_reg=1e-3", "metrics.spectrum=true",
                                     "solver.regression=pcg", "data.kind=clusters", "data.noise=0",
                                     "stopping.loss_target=1", "name=renamed", "seed=4"])
    assert s.network.m == 65536
    assert s.solver.options["eps_reg"] == 1e-3 and s.solver.options["regression"] == "pcg"
    assert s.metrics.spectrum is True and s.data.kind == "clusters"
    assert s.data.noise == 0.0 and isinstance(s.data.noise, float)
    assert s.stopping.loss_target == 1.0 and isinstance(s.stopping.loss_target, float)
    assert s.name == "renamed" and s.seed == 4
    # pairs and the seed argument
    s = load_scenario("quickstart", [("network.m", 1024), ("network.b", 0)], seed=11)
    assert s.network.m == 1024 and s.network.b == 0.0 and s.seed == 11


@pytest.mark.parametrize("overrides,expected", [
    (["network.mm=3"], "--set network.mm: unknown key; did you mean network.m?"),
    (["netwrk.m=3"], "--set netwrk.m: unknown key; did you mean network.m?"),
    (["network.m=-3"], "--set network.m: must be a positive integer, got -3"),
    (["network.m=true"], "--set network.m: must be a positive integer, got boolean true"),
    (["network.m=1e6"], "--set network.m"),
    (["data.n=1"], "--set data.n"),
    (["theory.rho=nan"], "--set theory.rho"),
    (["network=3"], "--set network: is a section"),
    (["network.m"], "--set: expected KEY=VALUE"),
    (["solver.name=sublinar"], "--set solver.name: unknown solver"),
    (["solver.regression=pgc"], "--set solver.regression: must be one of"),
    (["solver.regresion=pcg"], "--set solver.regresion: unknown key; did you mean solver.regression?"),
    (["network.b=1", "network.alpha_bar=0.1"], "--set network.b"),
    (["solver.name=gd", "solver.regression=pcg"], "--set solver.regression"),
    (["solver.cg_tol=0.1"], "--set solver.cg_tol: unknown option for solver \"sublinear\""),
    (["data.kind=file"], "--set data.path"),
])
def test_override_errors(overrides, expected):
    with pytest.raises(ConfigError) as ei:
        load_scenario("quickstart", overrides)
    assert expected in str(ei.value)


def test_seed_argument_checked():
    with pytest.raises(ConfigError, match="--seed: must be a non-negative integer"):
        load_scenario("quickstart", seed=-1)
    with pytest.raises(ConfigError, match="--seed"):
        load_scenario("quickstart", seed=True)


def test_override_fixes_invalid_file(tmp_path):
    p = write(tmp_path, 'name = "x"\n[network]\nm = -3\n')
    assert load_scenario(p, ["network.m=8"]).network.m == 8


def test_solver_switch_drops_default_options():
    s = load_scenario("paper-default", ["solver.name=gauss-newton"])
    assert s.solver.name == "gauss-newton" and s.solver.options == {}
    s = load_scenario("paper-default", ["solver.name=gd"])
    assert s.solver.options == {"learning_rate": "auto"}
    # shared options carry over; ones restating the old default give way to the new default
    s = load_scenario("paper-default", ["solver.name=bpsw"])
    assert s.solver.options == {k: o.default for k, o in SOLVER_OPTIONS["bpsw"].items()}
    s = load_scenario("quickstart", ["solver.eps_sketch=0.3", "solver.name=bpsw"])
    assert s.solver.options["eps_sketch"] == 0.3
    # and back: an override onto a resolved scenario
    s2 = override_scenario(load_scenario("gd"), ["solver.name=sublinear", "solver.index=fireset"])
    assert s2.solver.name == "sublinear" and s2.solver.options["index"] == "fireset"
    assert s2.solver.options["regression"] == "paper"


def test_solver_switch_explicit_incompatible_option_is_error():
    with pytest.raises(ConfigError) as ei:
        load_scenario("sublinear-fast", ["solver.name=gd"])
    msg = str(ei.value)
    assert "sublinear-fast.toml: solver.regression" in msg and "switched" in msg
    with pytest.raises(ConfigError, match=r"--set solver.regression"):
        load_scenario("gd", ["solver.name=gauss-newton", "solver.regression=paper"])


def test_override_scenario_keeps_everything_else():
    s = load_scenario("quickstart")
    s2 = override_scenario(s, ["network.m=8192"])
    assert s2.network.m == 8192
    assert override_scenario(s2, [("network.m", s.network.m)]) == s


def test_numpy_values_in_overrides():
    np = pytest.importorskip("numpy")
    s = load_scenario("quickstart", [("network.m", np.int64(2048)), ("theory.rho", np.float64(0.05))],
                      seed=np.int64(3))
    assert s.network.m == 2048 and type(s.network.m) is int and s.seed == 3
    assert s.theory.rho == 0.05 and type(s.theory.rho) is float


# --------------------------------------------------------------------------- property: round trip

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_pos = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)


@st.composite
def scenarios(draw):
    # valid scenarios only: each value within its Field, and the checks across fields and sizes met
    # (sketch_rows >= n, and >= n/(√(1+ε) − 1)² for the paper's iteration, sketch_nnz within the rows,
    # eps_sketch below 1 - 1/√2 for the paper's iteration, no dense reference sketch (gaussian, srht): those
    # are for small sizes and tests/test_input_checks.py covers them)
    n = draw(st.integers(2, 10**6))
    solver = draw(st.sampled_from(list(SOLVER_OPTIONS)))
    opts = {}
    for k, o in SOLVER_OPTIONS[solver].items():
        if draw(st.booleans()):
            continue
        if k == "sketch":
            opts[k] = draw(st.sampled_from([c for c in o.choices if c not in ("gaussian", "srht")]))
        elif o.choices:
            opts[k] = draw(st.sampled_from(o.choices))
        elif o.allow_auto and draw(st.booleans()):
            opts[k] = "auto"
        elif k == "sketch_rows":
            least = math.ceil(n / (math.sqrt(1 + PAPER_EPS_MAX) - 1) ** 2) if solver == "sublinear" else n
            opts[k] = draw(st.integers(least, 10**9))
        elif k == "sketch_nnz":
            opts[k] = draw(st.integers(1, 64))  # the auto s is at least 67 (n = 2, eps_sketch near 1)
        elif k == "eps_sketch":  # >= 0.05: the auto s (~4n/ε²) stays addressable by the hash at n = 10^6
            top = PAPER_EPS_MAX if solver == "sublinear" else 1.0
            opts[k] = draw(st.floats(0.05, top, exclude_max=True))
        elif o.type == "int":  # within the option's own range
            opts[k] = draw(st.integers(min_value=int(o.minimum or 0),
                                       max_value=int(o.maximum) if o.maximum is not None else 10**9))
        elif o.maximum is not None:
            opts[k] = draw(st.floats(min_value=float(o.minimum or 0.0), max_value=float(o.maximum),
                                     exclude_min=o.min_exclusive, exclude_max=o.max_exclusive))
        elif o.minimum:
            opts[k] = draw(st.floats(min_value=float(o.minimum), max_value=1e12))
        else:
            opts[k] = draw(_pos.filter(lambda v: v > 0 or not o.min_exclusive))
    if opts.get("sketch") == "osnap" and isinstance(opts.get("sketch_rows"), int):
        opts["sketch_nnz"] = min(opts.get("sketch_nnz", 4), opts["sketch_rows"])
    kind = SOLVER_MODELS[solver][0]
    net = {"kind": kind, "m": draw(st.integers(1, 2**40))}
    if kind == "multilayer":
        if draw(st.booleans()):
            net["layers"] = draw(st.integers(2, 64))
        if draw(st.booleans()):
            net["alpha"] = draw(st.floats(0.0, 0.999))
    else:
        which = draw(st.sampled_from(["none", "b", "alpha_bar"]))
        if which == "b":  # at most the default sqrt(0.48 ln m): neurons fire
            net["b"] = draw(st.floats(0.0, default_b(max(net["m"], 2))))
        elif which == "alpha_bar":
            net["alpha_bar"] = draw(st.floats(0.0, 0.999))
    return {
        "name": draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,10}", fullmatch=True)),
        "description": draw(_text),
        "seed": draw(st.integers(0, 2**63 - 1)),
        "data": {"kind": draw(st.sampled_from(["sphere", "clusters"])), "n": n,
                 "d": draw(st.integers(2, 10**4)), "labels": draw(st.sampled_from(["gaussian", "sign", "teacher"])),
                 "noise": draw(_pos)},
        "network": net,
        "solver": {"name": solver, **opts},
        "stopping": {"max_iterations": draw(st.integers(0, 10**6)), "rel_loss_target": draw(_pos)},
        "metrics": {"spectrum": draw(st.booleans()), "every": draw(st.integers(1, 100))},
        "theory": {"rho": draw(st.floats(1e-6, 0.999))},
        "output": {"path": draw(_text)},
    }


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_round_trip_property(raw):
    s = scenario_from_dict(raw)
    text = scenario_to_toml(s)
    assert scenario_from_dict(tomllib.loads(text)) == s
    assert scenario_from_dict(scenario_to_dict(s)) == s


def test_round_trip_awkward_strings(tmp_path):
    desc = 'quote " backslash \\ newline \n tab \t nul \x00 del \x7f ls \u2028 é 漢 \U0001F600'
    s = scenario_from_dict({"name": "x", "description": desc, "output": {"path": "a\\b c.h5"}})
    text = scenario_to_toml(s)
    assert len(text.split("\n")[2]) > 0 and "\x00" not in text and "\x7f" not in text
    assert load_scenario(write(tmp_path, text)) == s


def test_scenario_is_frozen():
    s = load_scenario("quickstart")
    with pytest.raises(Exception):
        s.network.m = 3  # type: ignore[misc]


def test_top_level_scenarios_link():
    link = Path(__file__).resolve().parents[1] / "scenarios"
    if link.exists():
        assert sorted(p.stem for p in link.glob("*.toml")) == SCENARIOS
