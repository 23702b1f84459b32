"""Scenarios: TOML file → validated, frozen dataclasses (with field-path error messages).

A scenario file (``simulator/scenarios/<name>.toml``; the top-level ``scenarios/`` links
there) looks like::

    name = "quickstart"          # identifier, [A-Za-z0-9._-]; defaults to the file's stem
    description = "..."
    seed = 0                     # master seed: every random stream is spawned from it

    [data]      kind, n, d, labels, clusters, noise, path
    [network]   kind, m, b | alpha_bar  (two-layer; neither: b = sqrt(0.48 ln m), docs/theory.md §4)
                layers, alpha  (multilayer, docs/theory.md §9)
    [solver]    name + that solver's options (simulator.solvers.SOLVER_OPTIONS)
    [stopping]  max_iterations, loss_target, rel_loss_target
    [metrics]   every, spectrum, flips, sketch_distortion, gram
    [theory]    rho
    [output]    path, store_W0_max
    [sweep]     grid, report, workers  (used only by `simulator sweep`; `run` ignores it)

Every key is a :class:`simulator.options.Field` (solver options too). Every key except
``name`` has a default, written once, in ``SCHEMA`` (and ``TOP_FIELDS``); the dataclasses
take theirs from there. ``name`` defaults to the file stem when loading a file. Errors are
:class:`ConfigError` with a one-line message ``<file>: <field.path>: <problem>`` (or
``--set <field.path>: <problem>`` for overrides). Each field is checked against its Field, and
what depends on the sizes (n, d, m) is checked as far as the scenario gives them: the solver's
options (``simulator.solvers.check_options``: e.g. sketch_rows >= n) and cluster centres drawn
beyond any use. A file that sets no key at all is refused. The data themselves (a file's
contents, duplicates) and the memory a run needs are the engine's job.
"""

import dataclasses
import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from simulator import ntk
from simulator.models import MODEL_NAMES
from simulator.options import BadValue, Field, check_value, describe_value, format_value, suggest
from simulator.solvers import SOLVER_MODELS, SOLVER_OPTIONS, check_options

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ConfigError(ValueError):
    """A scenario problem. ``str(err)`` is one line; ``.source`` (file, "--set" or None) and
    ``.field`` (dotted path or None) are available separately."""

    def __init__(self, message, *, source=None, field=None):
        message = " ".join(str(message).split("\n"))
        parts = []
        if source == "--seed":
            parts.append(source)
        elif source == "--set":
            parts.append(f"{source} {field}" if field else source)
        else:
            if source:
                parts.append(str(source))
            if field:
                parts.append(field)
        super().__init__(": ".join(parts + [message]))
        self.source = source
        self.field = field
        self.problem = message


# --------------------------------------------------------------------------- schema


TOP_FIELDS = {
    "name": Field("str", None, "scenario identifier ([A-Za-z0-9._-], used in output file names)"),
    "description": Field("str", "", "one-paragraph description shown by `simulator list`"),
    "seed": Field("int", 0, "master seed in [0, 2^63 - 1] (stored as an int64 attr); all random streams "
                  "(data, init, sketch, ...) are spawned from it", minimum=0),  # < 2^63: every int Field
}

SCHEMA = {
    "data": {
        "kind": Field("str", "sphere", "sphere | clusters | file", choices=("sphere", "clusters", "file")),
        "n": Field("int", 16, "number of data points (kind=file: optional, keep the first n rows)", minimum=2),
        # d = 1: every unit-norm point is +1 or -1, so any two points are parallel or antipodal (δ = 0)
        "d": Field("int", 16, "input dimension, at least 2 (kind=file: optional, must match the file)", minimum=2),
        "labels": Field("str", "gaussian", "gaussian | sign | teacher (ignored for kind=file)",
                        choices=("gaussian", "sign", "teacher")),
        "clusters": Field("int", 4, "number of clusters (kind=clusters)", minimum=1),
        "noise": Field("float", 0.1, "spread of points around their cluster centre (kind=clusters)",
                       minimum=0.0),
        "path": Field("str", "", "HDF5 (datasets X, y) or CSV (last column y) file (kind=file); "
                      "relative paths are relative to the scenario file"),
    },
    "network": {
        "kind": Field("str", "two-layer", "the model trained: two-layer (the two-layer shifted-ReLU network "
                      "of seed 002) | multilayer (L layers, only W_L trained; seed 004)", choices=MODEL_NAMES),
        "m": Field("int", 4096, "width (number of hidden neurons)", minimum=1),
        "b": Field("float", None, "activation shift; default sqrt(0.48 ln m) (docs/theory.md §4)", minimum=0.0,
                   optional=True),
        "alpha_bar": Field("float", None, "sparsity exponent: b = sqrt(0.5 (1 - alpha_bar) ln m) (Thm G.2)",
                           minimum=0.0, maximum=1.0, max_exclusive=True, optional=True),
        # the multilayer network (seed 004) only; filled in with their defaults when kind = multilayer
        "layers": Field("int", None, "number of layers L of the multilayer network (default 3); only W_L "
                        "is trained", minimum=2, maximum=64, optional=True),
        "alpha": Field("float", None, "sparsity exponent α of the multilayer network (default 0.15): "
                       "threshold t = sqrt(2 α ln m), at most ~m^(1-α) active neurons per layer (docs/theory.md §9)",
                       minimum=0.0, maximum=1.0, max_exclusive=True, optional=True),
    },
    "solver": {
        "name": Field("str", "sublinear", " | ".join(SOLVER_OPTIONS), choices=tuple(SOLVER_OPTIONS)),
        # + the chosen solver's options from SOLVER_OPTIONS
    },
    "stopping": {
        "max_iterations": Field("int", 20, "iteration cap", minimum=0),
        "loss_target": Field("float", 0.0, "stop when ½‖f−y‖² <= this (absolute)", minimum=0.0),
        "rel_loss_target": Field("float", 0.0, "stop when loss <= this · loss_0", minimum=0.0),
    },
    "metrics": {
        "every": Field("int", 1, "cadence (iterations) of the expensive metrics", minimum=1),
        "spectrum": Field("bool", False, "full eigenvalues of G_t"),
        "flips": Field("bool", True, "activation flips against t = 0 (Lemma D.3)"),
        "sketch_distortion": Field("bool", False, "measured ε of the sketch (Def. 2.1)"),
        "gram": Field("bool", True, "lambda_min/max of G_t and ‖G_t − G_0‖_F"),
    },
    "theory": {
        "rho": Field("float", 0.1, "failure probability in the bounds", minimum=0.0, maximum=1.0,
                     min_exclusive=True, max_exclusive=True),
    },
    "output": {
        "path": Field("str", "", "trace file; empty: outputs/<name>-<timestamp>.h5"),
        "store_W0_max": Field("int", 16777216, "store W0 in the trace while it has at most this many entries "
                              "(two-layer: m·d; multilayer: W_L(0), m²)", minimum=0),
    },
    "sweep": {  # read by `simulator sweep NAME` when no --grid is given; `simulator run` ignores it
        "grid": Field("strlist", (), 'grid axes for `simulator sweep`, e.g. ["network.m=2^6..2^14", "seed=0..9"] '
                      "(KEY=v1,v2,... | KEY=a..b | KEY=2^a..2^b)"),
        "report": Field("str", "", 'report printed after a sweep: "" (none) | "width-threshold" | "alpha-tradeoff" '
                        '| "lemma-4-3-width" (the names of simulator.theory.REPORTS)',
                        choices=("", "width-threshold", "alpha-tradeoff", "lemma-4-3-width")),
        "workers": Field("int", 2, "default number of worker processes of `simulator sweep`", minimum=1),
    },
}

SECTIONS = tuple(SCHEMA)


def solver_fields(name):
    """The Field table of solver ``name``'s options: ``SOLVER_OPTIONS[name]``."""
    return SOLVER_OPTIONS[name]


def _all_solver_option_names():
    names = []
    for opts in SOLVER_OPTIONS.values():
        for k in opts:
            if k not in names:
                names.append(k)
    return names


def all_keys():
    """Every settable dotted key path (solver options of every solver included)."""
    keys = list(TOP_FIELDS)
    for sec, fields in SCHEMA.items():
        keys += [f"{sec}.{k}" for k in fields]
    keys += [f"solver.{k}" for k in _all_solver_option_names()]
    return keys


# --------------------------------------------------------------------------- dataclasses


def _default(path):
    """``dataclasses.field`` with the default of key ``path`` ("seed", "network.m", ...), so
    that each default is written once, in SCHEMA / TOP_FIELDS."""
    sec, _, key = path.rpartition(".")
    f = SCHEMA[sec][key] if sec else TOP_FIELDS[key]
    return field(default=f.default)


@dataclass(frozen=True)
class DataConfig:
    kind: str = _default("data.kind")
    n: int | None = _default("data.n")  # None only for kind = "file" (taken from the file)
    d: int | None = _default("data.d")  # None only for kind = "file"
    labels: str = _default("data.labels")
    clusters: int = _default("data.clusters")
    noise: float = _default("data.noise")
    path: str = _default("data.path")

    def dataset_params(self):
        """Keyword arguments for ``simulator.data.make_dataset(kind, n, d, rng, **params)``."""
        return {"labels": self.labels, "clusters": self.clusters, "noise": self.noise,
                "path": self.path or None}


@dataclass(frozen=True)
class NetworkConfig:
    kind: str = _default("network.kind")  # one of simulator.models.MODEL_NAMES
    m: int = _default("network.m")
    b: float | None = _default("network.b")
    alpha_bar: float | None = _default("network.alpha_bar")
    layers: int | None = _default("network.layers")
    alpha: float | None = _default("network.alpha")


@dataclass(frozen=True)
class SolverConfig:
    name: str = _default("solver.name")
    options: dict = field(default_factory=dict)  # every option of `name`, defaults filled in; read-only


@dataclass(frozen=True)
class StoppingConfig:
    max_iterations: int = _default("stopping.max_iterations")
    loss_target: float = _default("stopping.loss_target")
    rel_loss_target: float = _default("stopping.rel_loss_target")


@dataclass(frozen=True)
class MetricsConfig:
    every: int = _default("metrics.every")
    spectrum: bool = _default("metrics.spectrum")
    flips: bool = _default("metrics.flips")
    sketch_distortion: bool = _default("metrics.sketch_distortion")
    gram: bool = _default("metrics.gram")


@dataclass(frozen=True)
class TheoryConfig:
    rho: float = _default("theory.rho")


@dataclass(frozen=True)
class OutputConfig:
    path: str = _default("output.path")
    store_W0_max: int = _default("output.store_W0_max")


@dataclass(frozen=True)
class SweepConfig:
    grid: tuple = _default("sweep.grid")  # "KEY=SPEC" strings (parsed by engine.sweep.parse_grid)
    report: str = _default("sweep.report")
    workers: int = _default("sweep.workers")


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str = _default("description")
    seed: int = _default("seed")
    data: DataConfig = field(default_factory=DataConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    stopping: StoppingConfig = field(default_factory=StoppingConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    theory: TheoryConfig = field(default_factory=TheoryConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    source: str | None = field(default=None, compare=False)  # file it was loaded from, if any


_SECTION_CLASSES = {
    "data": DataConfig, "network": NetworkConfig, "solver": SolverConfig, "stopping": StoppingConfig,
    "metrics": MetricsConfig, "theory": TheoryConfig, "output": OutputConfig, "sweep": SweepConfig,
}


def resolve_b(network):
    """The activation shift b: explicit b; else sqrt(0.5(1−ᾱ) ln m) from alpha_bar (Thm G.2);
    else the default sqrt(0.48 ln m) (docs/theory.md §4)."""
    if network.b is not None:
        return float(network.b)
    if network.alpha_bar is not None:
        return ntk.b_from_alpha_bar(network.m, network.alpha_bar)
    return ntk.default_b(network.m)


# --------------------------------------------------------------------------- dict → Scenario


class _Ctx:
    """Where values came from, for error prefixes: the file (or None) and overridden paths."""

    def __init__(self, source=None, overridden=None, base_solver=None):
        self.source = source
        self.overridden = overridden or {}  # dotted path -> "--set" | "--seed"
        self.base_solver = base_solver  # solver name before overrides (for the switch rule)

    def error(self, path, message, related=()):
        """ConfigError for ``path``; blamed on an override if path or a related key was overridden."""
        src = self.source
        for p in (path, *related):
            if p in self.overridden:
                src = self.overridden[p]
                break
        return ConfigError(message, source=src, field=path)


def _check_table(ctx, raw, sec):
    tbl = raw.get(sec, {})
    if not isinstance(tbl, dict):
        raise ctx.error(sec, f"must be a table ([{sec}]), got {describe_value(tbl)}")
    return tbl


def _unknown_key(ctx, path, candidates, what="key"):
    short = path.rsplit(".", 1)[-1]
    hint = suggest(short, candidates)
    prefix = path.rsplit(".", 1)[0] + "." if "." in path else ""
    msg = f"unknown {what}"
    if hint:
        msg += f"; did you mean {prefix}{hint}?"
    msg += f" (valid: {', '.join(candidates)})"
    return ctx.error(path, msg)


def _build_section(ctx, sec, tbl, defaults_override=None):
    fields = SCHEMA[sec]
    for k in tbl:
        if k not in fields:
            raise _unknown_key(ctx, f"{sec}.{k}", list(fields))
    out = {}
    for k, f in fields.items():
        if k in tbl:
            try:
                out[k] = check_value(f, tbl[k])
            except BadValue as e:
                raise ctx.error(f"{sec}.{k}", str(e)) from None
        else:
            out[k] = (defaults_override or {}).get(k, f.default)
    return out


def _build_solver(ctx, tbl):
    name_f = SCHEMA["solver"]["name"]
    name = tbl.get("name", name_f.default)
    if not isinstance(name, str):
        raise ctx.error("solver.name", f"must be a string naming a solver, got {describe_value(name)}")
    if name not in SOLVER_OPTIONS:
        hint = suggest(name, SOLVER_OPTIONS)
        raise ctx.error("solver.name", f"unknown solver {json.dumps(name)}"
                        + (f"; did you mean {json.dumps(hint)}?" if hint else "")
                        + f" (choose one of {', '.join(SOLVER_OPTIONS)})")
    fields = solver_fields(name)
    base = ctx.base_solver
    switched = base is not None and base in SOLVER_OPTIONS and base != name
    options = {}
    for k, v in tbl.items():
        if k == "name":
            continue
        path = f"solver.{k}"
        from_override = path in ctx.overridden
        if switched and not from_override and k in SOLVER_OPTIONS[base]:
            # The solver was switched by an override: options written for the old solver are
            # dropped when they only restate its default, and carried over otherwise.
            old = SOLVER_OPTIONS[base][k]
            try:
                same_as_default = check_value(old, v) == old.default
            except BadValue:
                same_as_default = False
            if same_as_default:
                continue
            if k not in fields:
                shown = json.dumps(v) if isinstance(v, str) else format_value(v)
                raise ctx.error(path, f"{shown} is set for solver {json.dumps(base)}, but solver.name "
                                f"was switched to {json.dumps(name)}, which has no such option; remove "
                                f"it or choose a scenario written for {json.dumps(name)}")
        if k not in fields:
            valid = list(fields)
            if not valid:
                raise ctx.error(path, f"unknown option: solver {json.dumps(name)} takes no options")
            hint = suggest(k, valid)
            raise ctx.error(path, f"unknown option for solver {json.dumps(name)}"
                            + (f"; did you mean solver.{hint}?" if hint else "")
                            + f" (valid: {', '.join(valid)})")
        try:
            options[k] = check_value(fields[k], v)
        except BadValue as e:
            raise ctx.error(path, str(e)) from None
    full = {k: options.get(k, f.default) for k, f in fields.items()}
    return SolverConfig(name=name, options=full)


def _build(raw, ctx, default_name=None):
    if not isinstance(raw, dict):
        raise ConfigError(f"scenario must be a table, got {describe_value(raw)}", source=ctx.source)
    for k in raw:
        if k not in TOP_FIELDS and k not in SCHEMA:
            candidates = list(TOP_FIELDS) + list(SCHEMA)
            hint = suggest(k, candidates)
            raise ctx.error(k, "unknown " + ("section" if isinstance(raw[k], dict) else "key")
                            + (f"; did you mean {hint}?" if hint else "")
                            + f" (valid: {', '.join(candidates)})")
    top = {}
    for k, f in TOP_FIELDS.items():
        if k in raw:
            try:
                top[k] = check_value(f, raw[k])
            except BadValue as e:
                raise ctx.error(k, str(e)) from None
        elif k == "name":
            if default_name is None:
                raise ctx.error("name", "missing required key (a short identifier for the scenario)")
            top[k] = default_name
        else:
            top[k] = f.default
    if not _NAME_RE.match(top["name"]):
        raise ctx.error("name", f"must be a non-empty identifier of letters, digits, '.', '_' or '-' "
                        f"(it names output files), got {json.dumps(top['name'])}")

    # data
    dtbl = _check_table(ctx, raw, "data")
    kind = dtbl.get("kind", SCHEMA["data"]["kind"].default)
    file_defaults = {"n": None, "d": None} if kind == "file" else None
    data = _build_section(ctx, "data", dtbl, file_defaults)
    if data["kind"] == "file":
        if not data["path"]:
            raise ctx.error("data.path", 'must name a file when data.kind = "file"', related=("data.kind",))
        p = Path(os.path.expanduser(data["path"]))
        if not p.is_absolute() and ctx.source and "data.path" not in ctx.overridden:
            p = Path(ctx.source).resolve().parent / p
        data["path"] = str(p)
    # network
    net = _build_section(ctx, "network", _check_table(ctx, raw, "network"))
    if net["b"] is not None and net["alpha_bar"] is not None:
        path = "network.b" if "network.b" in ctx.overridden else "network.alpha_bar"
        raise ctx.error(path, "network.b and network.alpha_bar cannot both be set; give one of them "
                        "(or neither for the default b = sqrt(0.48 ln m))",
                        related=("network.b", "network.alpha_bar"))
    _check_model_keys(ctx, net)
    solver = _build_solver(ctx, _check_table(ctx, raw, "solver"))
    models = SOLVER_MODELS[solver.name]
    if net["kind"] not in models:
        fit = [name for name, kinds in SOLVER_MODELS.items() if net["kind"] in kinds]
        raise ctx.error("solver.name", f"solver {json.dumps(solver.name)} trains network.kind = "
                        f"{' | '.join(models)}, not {json.dumps(net['kind'])} (solvers for "
                        f"{net['kind']}: {', '.join(fit)})", related=("network.kind",))
    rest = {sec: _SECTION_CLASSES[sec](**_build_section(ctx, sec, _check_table(ctx, raw, sec)))
            for sec in ("stopping", "metrics", "theory", "output", "sweep")}
    _check_sizes(ctx, data, net, solver)
    return Scenario(name=top["name"], description=top["description"], seed=top["seed"],
                    data=DataConfig(**data), network=NetworkConfig(**net), solver=solver,
                    source=ctx.source, **rest)


#: cluster centres (clusters × d entries) drawn beyond the n used are refused above this many bytes
CENTRES_MAX_BYTES = 2**30

_KEY_RE = re.compile(r"^((?:solver|network|data)\.[A-Za-z_]+): (.*)$", re.S)


def _check_sizes(ctx, data, net, solver):
    """What depends on the sizes n, d, m (n, d None for data from a file that does not give them)."""
    n, d, m = data["n"], data["d"], net["m"]
    # A b under which few neurons fire is not refused here: whether a fire set is empty depends on the draw of
    # W0, and the run stops with "empty fire set" (exit 1, the trace says so), as the width-threshold runs expect.
    if data["kind"] == "clusters" and data["clusters"] > n and 8 * data["clusters"] * d > CENTRES_MAX_BYTES:
        raise ctx.error("data.clusters", f"{data['clusters']} clusters would draw {data['clusters']} centres in d = {d} "
                        f"(more than {CENTRES_MAX_BYTES // 2**30} GiB) but only the first n = {n} are used (point i "
                        f"belongs to cluster i mod clusters); give at most n")
    try:
        check_options(solver.name, n, d, m, solver.options)
    except ValueError as exc:
        match = _KEY_RE.match(str(exc))
        path, problem = (match.group(1), match.group(2)) if match else ("solver.name", str(exc))
        raise ctx.error(path, problem) from None


#: keys of [network] that only one model reads, and their defaults there
_MODEL_KEYS = {"two-layer": {"b": None, "alpha_bar": None}, "multilayer": {"layers": 3, "alpha": 0.15}}


def _check_model_keys(ctx, net):
    """A key of another model is an error (it would be silently ignored); the model's own keys get
    their defaults."""
    kind = net["kind"]
    for other, keys in _MODEL_KEYS.items():
        for key, default in keys.items():
            if other == kind:
                if net[key] is None:
                    net[key] = default
            elif net[key] is not None:
                raise ctx.error(f"network.{key}", f"is a setting of network.kind = {other}, not of "
                                f"{json.dumps(kind)}; remove it", related=("network.kind",))


def scenario_from_dict(raw, *, source=None, overrides=(), seed=None, default_name=None):
    """Validate a nested dict (as parsed from TOML) and build a Scenario.

    ``source`` names the origin in error messages (and is kept in ``Scenario.source``).
    ``overrides``/``seed`` as for :func:`load_scenario`.
    """
    ctx = _Ctx(source=source)
    raw = _deepcopy(raw)
    solver_tbl = raw.get("solver") if isinstance(raw, dict) else None
    ctx.base_solver = (solver_tbl.get("name", SCHEMA["solver"]["name"].default)
                       if isinstance(solver_tbl, dict) else SCHEMA["solver"]["name"].default)
    for item in overrides:
        path, value = _parse_override(item)
        _apply_override(raw, path, value, ctx, "--set")
    if seed is not None:
        if not isinstance(seed, bool) and hasattr(seed, "__index__"):
            seed = seed.__index__()
        _apply_override(raw, "seed", seed, ctx, "--seed")
    return _build(raw, ctx, default_name=default_name)


def _deepcopy(v):
    if isinstance(v, dict):
        return {k: _deepcopy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_deepcopy(x) for x in v]
    return v


# --------------------------------------------------------------------------- overrides

_POW_RE = re.compile(r"^\s*([+-]?\d+)\s*(?:\^|\*\*)\s*(\d+)\s*$")


def parse_override_value(text):
    """Parse the value of ``--set key=value``: a TOML value (65536 → int, 1e-3 → float,
    true → bool, "x" → str), ``2^16`` (or ``2**16``) → int 65536, anything else → the bare
    string (so ``solver.regression=pcg`` works without quotes)."""
    m = _POW_RE.match(text)
    if m:  # the sign binds looser than the power, as in writing: -2^2 = -(2^2) = -4
        base, exp = int(m.group(1).lstrip("+-")), int(m.group(2))
        if base > 1 and exp * math.log2(base) > 4096:  # far beyond any setting: not computed (10^10^9 would hang)
            return text.strip()
        return (-1 if m.group(1).startswith("-") else 1) * base ** exp
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def _parse_override(item):
    if isinstance(item, str):
        if "=" not in item:
            raise ConfigError(f"expected KEY=VALUE (e.g. network.m=65536), got {json.dumps(item)}",
                              source="--set")
        key, text = item.split("=", 1)
        return key.strip(), parse_override_value(text)
    try:
        key, value = item
    except (TypeError, ValueError):
        raise ConfigError(f"expected KEY=VALUE or a (key, value) pair, got {item!r}", source="--set") from None
    return str(key).strip(), value


def _apply_override(raw, path, value, ctx, label):
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()  # numpy scalars (e.g. from a sweep's np.logspace) → Python values
    parts = path.split(".")
    known = all_keys()
    if path in SCHEMA:
        raise ConfigError(f"is a section; set one of its keys, e.g. {path}.{next(iter(SCHEMA[path]))}",
                          source=label, field=path)
    if path not in known:
        hint = suggest(path, known)
        raise ConfigError("unknown key" + (f"; did you mean {hint}?" if hint else "")
                          + " (see `simulator show` for every key)", source=label, field=path)
    if len(parts) == 1:
        raw[path] = value
    else:
        sec, key = parts
        tbl = raw.setdefault(sec, {})
        if not isinstance(tbl, dict):
            raise ctx.error(sec, f"must be a table ([{sec}]), got {describe_value(tbl)}")
        tbl[key] = value
    ctx.overridden[path] = label


# --------------------------------------------------------------------------- files


def _scenario_files():
    return sorted(SCENARIO_DIR.glob("*.toml"))


def list_scenarios():
    """[(name, description)] of the packaged scenarios (name = file stem), sorted by name."""
    out = []
    for p in _scenario_files():
        try:
            with open(p, "rb") as fh:
                desc = tomllib.load(fh).get("description", "")
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            desc = "(unreadable scenario file)"
        out.append((p.stem, desc if isinstance(desc, str) else ""))
    return out


def scenario_path(name_or_path):
    """Resolve a bare scenario name to its packaged file; a path (ends in .toml or contains a
    path separator) is returned as given."""
    s = os.fspath(name_or_path)
    if s.endswith(".toml") or os.sep in s or (os.altsep and os.altsep in s):
        return Path(s)
    p = SCENARIO_DIR / f"{s}.toml"
    if not p.is_file():
        names = [q.stem for q in _scenario_files()]
        hint = suggest(s, names)
        raise ConfigError(f"unknown scenario {json.dumps(s)}"
                          + (f"; did you mean {json.dumps(hint)}?" if hint else "")
                          + f" (available: {', '.join(names) or 'none'}; or give a path to a .toml file)")
    return p


def _read_toml(path):
    label = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise ConfigError("cannot read: no such file", source=label) from None
    except IsADirectoryError:
        raise ConfigError("cannot read: is a directory, not a scenario file", source=label) from None
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror or e}", source=label) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"cannot read: not UTF-8 text ({e.reason} at byte {e.start})", source=label) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"malformed TOML: {e}", source=label) from None


def load_scenario(name_or_path, overrides=(), seed=None):
    """Load a scenario by bare name (``simulator/scenarios/<name>.toml``) or .toml path.

    ``overrides``: strings ``"section.key=value"`` (value parsed by
    :func:`parse_override_value`) or (path, value) pairs, applied before validation.
    Setting ``solver.name`` switches solver: options from the file that restate the old
    solver's default are dropped; other options of the old solver that the new one lacks
    are an error, as is any override naming an option the final solver lacks.
    ``seed`` (int) replaces the top-level seed.
    """
    path = scenario_path(name_or_path)
    raw = _read_toml(path)
    if not raw:
        # almost always a mistake (a truncated or unsaved file, the wrong path); running it would quietly run
        # every default and write a trace named after the file
        raise ConfigError(f"empty scenario: the file sets no key, so every setting would take its default; "
                          f"write at least one (e.g. name = {json.dumps(path.stem)}), or run a packaged scenario "
                          f"such as quickstart", source=str(path))
    return scenario_from_dict(raw, source=str(path), overrides=overrides, seed=seed,
                              default_name=path.stem)


def override_scenario(scenario, overrides=(), seed=None):
    """A new Scenario with ``overrides`` (as for load_scenario) applied to ``scenario``."""
    return scenario_from_dict(scenario_to_dict(scenario), source=scenario.source,
                              overrides=overrides, seed=seed)


# --------------------------------------------------------------------------- Scenario → dict / TOML


def scenario_to_dict(scenario):
    """Nested plain dict with every key explicit (None-valued optional keys omitted), such
    that ``scenario_from_dict(scenario_to_dict(s)) == s``."""
    out = {"name": scenario.name, "description": scenario.description, "seed": scenario.seed}
    for sec in SECTIONS:
        obj = getattr(scenario, sec)
        if sec == "solver":
            out[sec] = {"name": obj.name, **dict(obj.options)}
        else:
            out[sec] = {f.name: list(v) if isinstance(v, tuple) else v for f in dataclasses.fields(obj)
                        if (v := getattr(obj, f.name)) is not None}
    return out


_TOML_ESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_str(v):
    """A TOML basic string: escape quote, backslash and every non-printable character."""
    out = []
    for ch in v:
        if ch in _TOML_ESC:
            out.append(_TOML_ESC[ch])
        elif not ch.isprintable():  # control chars (TOML forbids them raw), U+2028, ...
            out.append(f"\\u{ord(ch):04X}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write non-finite float {v}")
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as a TOML value")


def scenario_to_toml(scenario, comments=False):
    """The resolved scenario as TOML text: every key explicit (an unset b/alpha_bar appears as a
    comment giving the derived b). ``load`` of the text gives an equal Scenario. With
    ``comments=True`` each key carries its help text as a trailing comment."""
    d = scenario_to_dict(scenario)
    lines = [f"# scenario {json.dumps(scenario.name)}, resolved (every key explicit)"]

    def emit(key, value, f):
        line = f"{key} = {_toml_value(value)}"
        if comments and f is not None:
            line = f"{line:<40} # {f.help}"
        lines.append(line)

    for k in TOP_FIELDS:
        emit(k, d[k], TOP_FIELDS[k])
    for sec in SECTIONS:
        lines += ["", f"[{sec}]"]
        fields = dict(SCHEMA[sec])
        if sec == "solver":
            fields.update(solver_fields(scenario.solver.name))
        for k, f in fields.items():
            if k in d[sec]:
                emit(k, d[sec][k], f)
            elif sec == "data":
                lines.append(f"# {k} not set: taken from the file")
        if sec == "network" and scenario.network.kind == "two-layer":
            net = scenario.network
            b = resolve_b(net)
            if net.b is None and net.alpha_bar is None:
                lines.append(f"# b, alpha_bar not set: b = sqrt(0.48 ln m) = {b!r}")
            elif net.b is None:
                lines.append(f"# b not set: b = sqrt(0.5 (1 - alpha_bar) ln m) = {b!r}")
    return "\n".join(lines) + "\n"
