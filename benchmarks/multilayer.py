"""Cost per iteration of seed 004 (Song, Zhang, Zhang): training the last hidden layer W_L (m × m) of an
L-layer network, against the dense Gauss-Newton reference, as m grows.

    python benchmarks/multilayer.py                          # m = 1024 .. 16384 (~5 GiB peak, ~40 s on the 2-core VM)
    python benchmarks/multilayer.py --m 1024 2048 --steps 3  # a quick check
    python benchmarks/multilayer.py --markdown --json ml.json

Setting: n = 16 points on the unit sphere in d = 16 (`make_dataset("sphere", n, d, streams(seed)["data"])`,
the same X, y at every m), L = 3 layers, α = 0.15 (threshold t = √(2α ln m) in units of the
pre-activation's spread, docs/theory.md §9.2), weights from the "init" stream (`make_problem`). For
each m the problem is built ONCE and every contender runs on it in this process, each from its own
fresh solver, one alive at a time (its memory freed before the next).

Contenders (name: solver, options):
  dense-gn                multilayer-dense, step gauss-newton, jacobian gram: explicit W_L, Z = V W_Lᵀ and the
                          rank-n update as two GEMMs per step, O(n m²) (the reference)
  paper-literal           multilayer, sketch-and-solve, tensorsketch, delta_form factors (default rank_max =
                          max(n, ⌈m^0.32⌉): the paper's fold), forward literal — Algorithm 1 as printed
  literal-pv              as paper-literal with delta_form pv (ΔW_L = P Vᵀ, rank n, never folded)
  literal-preconditioned  regression preconditioned (PCG on the exact G, sketch-QR preconditioner), tensorsketch,
                          pv, forward literal
  cached-exact            regression exact (G = (UUᵀ)∘(VVᵀ) solved directly), pv, forward cached (W_L(0)·v_i kept
                          from init; beyond the paper, exact)
  cached-sketch           sketch-and-solve, tensorsketch, pv, forward cached
Predicted exponents of the step cost in m: 2 (dense-gn), 2 − α (the literal forward through the sparse
v_i: m·nnz(v_i) per point, nnz(v_i) ≈ m·Q(t) ≤ m^{1−α}), 1 (cached: O(n² m) per step).

What is measured, per contender and m:
  init        StepRecord.seconds of solver.init(), reported apart;
  step        StepRecord.seconds of each of --steps solver.step() calls (the sum of its timed phases; the
              untimed counters inside step() are not in it): the MEDIAN over the steps, as asked, and the
              MEAN beside it. They differ when a phase does not run every step: paper-literal folds its
              factor list when the rank reaches rank_max (every step while rank_max <= n, every other step
              once n < rank_max <= 2n), and the median of 5 steps then hides the fold; the mean is its
              cost amortised over the steps run;
  flops       the solver's counted flops (sum of StepRecord.counters["phase_flops"]), median and mean;
  phases      per phase (solver.phases) the median and mean seconds and flops (a phase that did not run
              in a step counts 0 for that step);
  ratios      dense-gn's median seconds (flops) / the contender's, same m;
  slopes      least-squares slope of log(cost) against log(m) over the m's run, ± its standard error
              (residual-based; needs >= 3 m's), for median and mean seconds and flops, and per phase.
Loss evaluations (solver.loss(), a read-only view) happen between steps and are never timed; the
loss after the last step is printed as a sanity check (cached-exact must follow dense-gn to
round-off). Every contender first runs 3 steps on a tiny problem (m = 256, n = 4, d = 4) so no timing
includes Numba compilation. A solver error (rec.error), or an exception, is shown in the table (and
the JSON), never dropped. A contender (or an m) whose estimated peak memory — the solver's
`memory_words(n, d, m, options)` + the model's `memory_words(n, d, m)`, 8 bytes a word — does not fit
in the memory available (MemAvailable + freed memory the process keeps) is skipped, and the skip
printed; the largest m that ran is stated.
Environment (benchmarks/_env.py, as cpi.py and preprocess.py): the script re-executes itself with
OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS and NUMBA_NUM_THREADS all set to --threads
(default 1) before numpy loads, so every contender runs its BLAS (numpy's and scipy's OpenBLAS, both
read back and printed) and Numba kernels on the same number of threads; glibc keeps freed memory and
memory is prefaulted per m (untimed). --threads 0 --no-retain measures raw.
Progress goes to stderr; the tables and a final machine-readable line (`# json: {...}`) go to stdout.
"""

import argparse
import ctypes
import gc
import json
import math
import os
import platform
import sys
import time
import traceback

import numpy as np

import _env  # benchmarks/_env.py: threads, kept memory, prefault (shared by the benchmarks)
from simulator.data import make_dataset
from simulator.fits import loglog_fit
from simulator.models import multilayer as model
from simulator.solvers import get_solver
from simulator.solvers.multilayer import default_rank_max
from simulator.streams import streams

CONTENDERS = {
    "dense-gn": ("multilayer-dense", {"step": "gauss-newton", "jacobian": "gram"}),
    "paper-literal": ("multilayer", {"step": "gauss-newton", "regression": "sketch-and-solve",
                                     "sketch": "tensorsketch", "delta_form": "factors", "forward": "literal"}),
    "literal-pv": ("multilayer", {"step": "gauss-newton", "regression": "sketch-and-solve",
                                  "sketch": "tensorsketch", "delta_form": "pv", "forward": "literal"}),
    "literal-preconditioned": ("multilayer", {"step": "gauss-newton", "regression": "preconditioned",
                                              "sketch": "tensorsketch", "delta_form": "pv", "forward": "literal"}),
    "cached-exact": ("multilayer", {"step": "gauss-newton", "regression": "exact", "delta_form": "pv",
                                    "forward": "cached"}),
    "cached-sketch": ("multilayer", {"step": "gauss-newton", "regression": "sketch-and-solve",
                                     "sketch": "tensorsketch", "delta_form": "pv", "forward": "cached"}),
}
REFERENCE = "dense-gn"
PAPER, CACHED = "paper-literal", "cached-exact"
EXACT = ("cached-exact",)  # exact Gauss-Newton: iterates equal dense-gn's up to round-off


def predicted(name, alpha):
    """(label, value) of the predicted exponent of the step cost in m."""
    if name == REFERENCE:
        return "2 (dense)", 2.0
    if name.startswith("cached"):
        return "1 (cached)", 1.0
    return f"2 − α = {2 - alpha:g}", 2.0 - alpha


TARGET_A_TOL = 0.1  # (a) |slope − (2 − α)| <= 0.1, and slope measurably below 2 (slope + 2 se < 2)
TARGET_B_RATIO = 50.0  # (b) dense-gn / cached-exact at the largest m
TARGET_B_SLOPE = 1.2  # (b) cached-exact's slope


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- environment


def blas_threads():
    """{library: threads} read back from every OpenBLAS loaded in the process (numpy's and scipy's)."""
    out = {}
    try:
        with open("/proc/self/maps") as fh:
            libs = sorted({ln.split()[-1] for ln in fh if "openblas" in ln.lower() and ln.split()[-1].startswith("/")})
    except OSError:
        return out
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for sym in ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
                    "openblas_get_num_threads64_", "openblas_get_num_threads"):
            fn = getattr(lib, sym, None)
            if fn is not None:
                out[os.path.basename(path)] = int(fn())
                break
    return out


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for ln in fh:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = math.nan
    try:
        with open("/proc/meminfo") as fh:
            for ln in fh:
                if ln.startswith("MemTotal:"):
                    mem = int(ln.split()[1]) * 1024 / 2**30
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": mem, "python": platform.python_version()}


# ---------------------------------------------------------------- problem and runs
def build_problem(m, n, d, layers, alpha, seed):
    rngs = streams(seed)
    X, y = make_dataset("sphere", n, d, rngs["data"])
    return model.make_problem(X, y, m, layers, alpha, rngs)


def describe(problem):
    """Sparsity of the problem: nnz(v_i)/m, |∪ supp v_i|/m (the rows of W_L(0)ᵀ the literal forward reads),
    and layer L's fire fraction at t = 0."""
    n, m = problem.n, problem.m
    cols = problem.V_sparse[0]
    nnz = problem.V_sparse[2].shape[0]
    fire0 = float(np.count_nonzero(problem.Z0 > problem.b)) / (n * m)
    return {"m": m, "b": problem.b, "t": problem.t, "sigma_w": problem.sigma_w,
            "v_density": nnz / (n * m), "m_pow_minus_alpha": m ** -problem.alpha,
            "Q_t": model.upper_tail(problem.t), "union_fraction": cols.shape[0] / m, "fire0": fire0,
            "rank_max": default_rank_max(m, n)}


def need_bytes(name, n, d, m):
    """Estimated peak bytes of a contender beyond the problem, + 300 MiB."""
    solver_name, options = CONTENDERS[name]
    return 8 * get_solver(solver_name).memory_words(n, d, m, dict(options)) + 300 * 2**20


def problem_bytes(n, d, m):
    return 8 * model.memory_words(n, d, m)


def run_contender(name, problem, steps, tag=""):
    """Fresh solver, init, then `steps` steps (stops at the first error)."""
    solver_name, options = CONTENDERS[name]
    out = {"name": name, "solver": solver_name, "options": options, "error": None, "traceback": None,
           "skipped": None, "init": math.nan, "phase_names": [], "steps": [], "wall_steps": [], "phases": [],
           "phase_flops": [], "flops": [], "counters": [], "losses": []}
    solver = None
    try:
        solver = get_solver(solver_name)(problem, dict(options))
        out["phase_names"] = list(solver.phases)
        rec = solver.init()
        out["init"] = rec.seconds
        out["info"] = {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in solver.info.items()}
        if rec.error:
            out["error"] = f"init: {rec.error}"
            log(f"{tag} {name}: init error: {rec.error}")
            return out
        loss0 = solver.loss()
        out["losses"].append(loss0)
        log(f"{tag} {name}: init {rec.seconds:.3f} s, loss0 {loss0:.4e}")
        for t in range(1, steps + 1):
            t0 = time.perf_counter()
            rec = solver.step()
            wall = time.perf_counter() - t0
            if rec.error:
                out["error"] = f"step {t}: {rec.error}"
                log(f"{tag} {name}: step {t} error: {rec.error}")
                break
            pf = [float(x) for x in rec.counters.get("phase_flops", [])]
            loss = solver.loss()
            out["steps"].append(rec.seconds)
            out["wall_steps"].append(wall)
            out["phases"].append({k: rec.phase_seconds.get(k, 0.0) for k in solver.phases})
            out["phase_flops"].append(dict(zip(solver.phases, pf)))
            out["flops"].append(float(sum(pf)))
            out["counters"].append({k: v for k, v in rec.counters.items() if isinstance(v, (int, float))})
            out["losses"].append(loss)
            log(f"{tag} {name}: step {t} {rec.seconds * 1e3:9.2f} ms  {sum(pf):.3e} flops  loss/loss0 "
                f"{loss / loss0:.3e}  " + " ".join(f"{k}={v * 1e3:.2f}" for k, v in rec.phase_seconds.items()))
            if not math.isfinite(loss):
                out["error"] = f"step {t}: loss not finite"
                break
    except Exception as exc:  # recorded precisely, never dropped
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
        log(f"{tag} {name}: EXCEPTION\n{out['traceback']}")
    finally:
        del solver
    return out


def summarise(r):
    """Medians and means of the per-step figures (a phase absent from a step counts 0 there)."""
    names = r.get("phase_names") or []
    k = len(r.get("steps") or [])
    if k:
        r["median_step"], r["mean_step"] = float(np.median(r["steps"])), float(np.mean(r["steps"]))
        r["median_flops"], r["mean_flops"] = float(np.median(r["flops"])), float(np.mean(r["flops"]))
        r["median_phases"] = {p: float(np.median([ph.get(p, 0.0) for ph in r["phases"]])) for p in names}
        r["mean_phases"] = {p: float(np.mean([ph.get(p, 0.0) for ph in r["phases"]])) for p in names}
        r["median_phase_flops"] = {p: float(np.median([ph.get(p, 0.0) for ph in r["phase_flops"]])) for p in names}
        r["mean_phase_flops"] = {p: float(np.mean([ph.get(p, 0.0) for ph in r["phase_flops"]])) for p in names}
        r["folds"] = int(sum(c.get("folds", 0) for c in r["counters"]))
    else:
        r["median_step"] = r["mean_step"] = r["median_flops"] = r["mean_flops"] = math.nan
        r["median_phases"], r["mean_phases"], r["median_phase_flops"], r["mean_phase_flops"] = {}, {}, {}, {}
        r["folds"] = 0
    return r


def skipped(name, msg):
    return summarise({"name": name, "skipped": msg, "error": None, "steps": [], "losses": [], "init": math.nan,
                      "phase_names": []})


def warm_up(names, alpha, layers):
    """3 steps of every contender on a tiny problem (paper-literal folds there), so Numba compiles."""
    for seed in range(20):
        problem = build_problem(256, 4, 4, layers, alpha, seed)
        errors = []
        for name in names:
            r = run_contender(name, problem, 3, tag="[warm-up]")
            if r["error"] or len(r["steps"]) < 3:
                errors.append(f"{name}: {r['error']}")
        if not errors:
            return
        log(f"[warm-up] seed {seed}: {'; '.join(errors)}; trying the next seed")
    log("[warm-up] WARNING: some contender failed on every warm-up seed; first timings may include compilation")


# ---------------------------------------------------------------- figures
def fit(xs, ys):
    """Least-squares slope of log y on log x and its standard error (nan below 3 points)."""
    slope, se, _ = loglog_fit(xs, ys)
    return slope, se


def fin(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def fmt_s(x):
    if not fin(x):
        return "—"
    if x < 1e-3:
        return f"{x * 1e6:.0f} µs"
    return f"{x * 1e3:.2f} ms" if x < 1 else f"{x:.2f} s"


def fmt_f(x):
    return f"{x:.3g}" if fin(x) else "—"


def fmt_ratio(x):
    return f"{x:.1f}×" if fin(x) else "—"


def fmt_slope(s, se):
    if not fin(s):
        return "—"
    return f"{s:.2f} ± {se:.2f}" if fin(se) else f"{s:.2f}"


def fmt_pct(x):
    return f"{100 * x:.0f}%" if fin(x) else "—"


class Out:
    """Tables as GitHub markdown (--markdown) or aligned plain text."""

    def __init__(self, markdown):
        self.md = markdown

    def title(self, text):
        print(f"### {text}" if self.md else f"== {text}")
        print()

    def para(self, text):
        print(text)
        print()

    def table(self, header, rows):
        if self.md:
            esc = [[str(c).replace("|", "\\|") for c in row] for row in [header] + rows]
            print("| " + " | ".join(esc[0]) + " |")
            print("|" + "---|" * len(header))
            for row in esc[1:]:
                print("| " + " | ".join(row) + " |")
        else:
            cells = [[str(c) for c in row] for row in [header] + rows]
            widths = [max(len(row[j]) for row in cells) for j in range(len(header))]
            for i, row in enumerate(cells):
                print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
                if i == 0:
                    print("  ".join("-" * w for w in widths))
        print()


def loss_agreement(r, ref):
    """Max relative difference of the loss after each common step (where ref's is above 1e-12·loss0)."""
    if not ref or not r["losses"] or not ref["losses"]:
        return math.nan
    L0 = ref["losses"][0]
    diffs = [abs(a - b) / b for a, b in zip(r["losses"], ref["losses"]) if b > 1e-12 * L0]
    return max(diffs) if diffs else math.nan


def status(r):
    if r.get("skipped"):
        return "SKIPPED (memory)"
    if r.get("error"):
        return f"ERROR {r['error'][:90]}"
    return "ok"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--m", type=int, nargs="+", default=[1024, 2048, 4096, 8192, 16384], help="widths m")
    parser.add_argument("--n", type=int, default=16, help="points")
    parser.add_argument("--d", type=int, default=16, help="input dimension")
    parser.add_argument("--layers", type=int, default=3, help="L (only W_L is trained)")
    parser.add_argument("--alpha", type=float, default=0.15, help="sparsity exponent α (threshold √(2α ln m))")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per contender (after init)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=list(CONTENDERS),
                        metavar="NAME", help=f"contenders (default all: {', '.join(CONTENDERS)})")
    parser.add_argument("--phases", nargs="+", default=[PAPER, CACHED], choices=list(CONTENDERS), metavar="NAME",
                        help="contenders whose per-phase breakdown is printed at the largest m "
                             f"(default {PAPER} {CACHED})")
    parser.add_argument("--markdown", action="store_true", help="print the tables as GitHub markdown")
    parser.add_argument("--json", help="write the raw numbers (per-step figures included) to this file")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS and Numba threads for every contender (0: leave the environment alone)")
    parser.add_argument("--no-retain", action="store_true",
                        help="do not keep freed memory in the process nor prefault it (see benchmarks/_env.py)")
    args = parser.parse_args()
    _env.reexec(__file__, _env.wanted_env(args.threads, not args.no_retain), sys.argv[1:])
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    names = list(dict.fromkeys(args.contenders))
    ms = sorted(dict.fromkeys(args.m))
    n, d = args.n, args.d

    import numba
    import scipy

    load_start = os.getloadavg()
    t_start = time.perf_counter()
    warm_up(names, args.alpha, args.layers)
    log(f"[warm-up] done in {time.perf_counter() - t_start:.1f} s")
    threads_read = blas_threads()

    results = {}  # m -> name -> result
    problems = {}
    skips = []
    for m in ms:
        tag = f"[m={m}]"
        results[m] = row = {}
        have = _env.usable_memory()
        needs = {nm: need_bytes(nm, n, d, m) for nm in names}
        pb = problem_bytes(n, d, m)
        if pb + min(needs.values()) > have:
            msg = (f"m = {m} skipped: the problem ({pb / 2**30:.1f} GiB) and the smallest contender "
                   f"({min(needs.values()) / 2**30:.1f} GiB) need more than the {have / 2**30:.1f} GiB usable")
            log(msg)
            skips.append(msg)
            for nm in names:
                row[nm] = skipped(nm, msg)
            continue
        t0 = time.perf_counter()
        # a problem with a point silent in some layer (layer L included) at init cannot be trained by
        # Gauss-Newton at all (G_0 singular): take the next seed for this m, and say so
        for seed in range(args.seed, args.seed + 10):
            problem = build_problem(m, n, d, args.layers, args.alpha, seed)
            silent = problem.dead_point() or (
                "a point has no active neuron in layer L at t = 0"
                if np.any(np.count_nonzero(problem.Z0 > problem.b, axis=1) == 0) else None)
            if not silent:
                break
            msg = f"m = {m}: seed {seed} skipped ({silent}); trying seed {seed + 1}"
            log(msg)
            skips.append(msg)
        problems[m] = describe(problem)
        problems[m]["seed"] = seed
        problems[m]["build_seconds"] = time.perf_counter() - t0
        pr = problems[m]
        log(f"{tag} built in {pr['build_seconds']:.1f} s: b = {pr['b']:.3e}, t = {pr['t']:.3f}, nnz(v)/m = "
            f"{pr['v_density']:.4f}, |∪ supp v|/m = {pr['union_fraction']:.3f}, fire0 = {pr['fire0']:.4f}")
        dead = problem.dead_point()
        if dead:
            log(f"{tag} WARNING: {dead}")
        if not args.no_retain:
            t0 = time.perf_counter()
            nbytes = min(max(needs.values()), _env.usable_memory() // 2)
            _env.prefault(nbytes)
            log(f"{tag} prefaulted {nbytes / 2**30:.2f} GiB in {time.perf_counter() - t0:.1f} s (untimed)")
        for nm in names:
            have = _env.usable_memory()
            if needs[nm] > have:
                msg = f"m = {m}: {nm} skipped: needs about {needs[nm] / 2**30:.1f} GiB, {have / 2**30:.1f} GiB usable"
                log(msg)
                skips.append(msg)
                row[nm] = skipped(nm, msg)
                continue
            row[nm] = summarise(run_contender(nm, problem, args.steps, tag=tag))
            gc.collect()
        del problem
        gc.collect()
    load_end = os.getloadavg()
    total = time.perf_counter() - t_start
    mach = machine()
    out = Out(args.markdown)

    def res(m, nm):
        return results.get(m, {}).get(nm)

    def val(m, nm, key):
        r = res(m, nm)
        return r.get(key, math.nan) if r else math.nan

    ran = [m for m in ms if any(val(m, nm, "steps") for nm in names)]
    ran_all = [m for m in ms if all(val(m, nm, "steps") for nm in names)]

    # ---------------------------------------------------------------- header
    env_threads = ", ".join(f"{k}={os.environ.get(k, 'unset')}" for k in _env.THREAD_VARS)
    read = ", ".join(f"{k}: {v}" for k, v in threads_read.items()) or "not readable"
    print(f"# machine: {mach['cpu']}, {mach['cores']} cores, {mach['mem_gib']:.1f} GiB; python {mach['python']}, "
          f"numpy {np.__version__}, scipy {scipy.__version__}, numba {numba.__version__}")
    print(f"# load average (1/5/15 min): {' '.join(f'{x:.2f}' for x in load_start)} before, "
          f"{' '.join(f'{x:.2f}' for x in load_end)} after; whole run {total:.0f} s")
    print(f"# threads: {env_threads} (set before numpy loads, by re-executing the script: benchmarks/_env.py), the "
          f"same for every contender; OpenBLAS threads read back: {read}; numba threads "
          f"{numba.config.NUMBA_NUM_THREADS}; freed memory "
          f"{'returned to the OS (--no-retain)' if args.no_retain else 'kept in the process + prefaulted per m'}")
    print(f"# setting: n = {n}, d = {d}, L = {args.layers}, α = {args.alpha:g}, seed {args.seed}, sphere data; "
          f"{args.steps} steps per contender after init; s/step = StepRecord.seconds (sum of timed phases), "
          f"median (and mean) over the steps; flops = sum of the counted phase_flops")
    for msg in skips:
        print(f"# {msg}")
    for m in ms:
        errs = {nm: results[m][nm]["error"] for nm in names if results[m][nm].get("error")}
        if errs and m in problems:
            first = next(iter(errs.values()))
            who = "every contender" if len(errs) == len(names) else ", ".join(errs)
            print(f"# m = {m}: {who} stopped with an error (first: {first}); "
                  + ("this m is left out of the slopes" if m not in ran else "slopes use the steps taken"))
    big = ran[-1] if ran else None
    print(f"# largest m run: {big if big else 'none'}" + (f" (every contender ran up to m = {ran_all[-1]})"
                                                          if ran_all and ran_all[-1] != big else ""))
    print()

    # ---------------------------------------------------------------- (1) per m
    for m in ms:
        pr = problems.get(m)
        out.title(f"m = {m}")
        if pr:
            out.para(f"b = {pr['b']:.3e} (t = {pr['t']:.3f}), nnz(v_i)/m = {pr['v_density']:.4f} (Q(t) = "
                     f"{pr['Q_t']:.4f}, m^-α = {pr['m_pow_minus_alpha']:.4f}), |∪_i supp v_i|/m = "
                     f"{pr['union_fraction']:.3f}, layer-L fire fraction at t = 0 {pr['fire0']:.4f}, rank_max "
                     f"(paper-literal) = {pr['rank_max']}; seed {pr['seed']}; built in {pr['build_seconds']:.1f} s")
        ref = res(m, REFERENCE)
        rows = []
        for nm in names:
            r = res(m, nm)
            ratio = ref["median_step"] / r["median_step"] if ref else math.nan
            fratio = ref["median_flops"] / r["median_flops"] if ref else math.nan
            last = r["losses"][-1] / r["losses"][0] if len(r["losses"]) > 1 else math.nan
            rows.append([nm, fmt_s(r["init"]), fmt_s(r["median_step"]), fmt_s(r["mean_step"]),
                         fmt_f(r["median_flops"]), fmt_f(r["mean_flops"]), fmt_ratio(ratio), fmt_ratio(fratio),
                         f"{r['folds']}/{len(r['steps'])}", fmt_f(last), status(r)])
        out.table(["contender", "init", "s/step (median)", "s/step (mean)", "flops/step (median)",
                   "flops/step (mean)", "dense-gn/this s", "dense-gn/this flops", "folds/steps",
                   "loss/loss0 at end", "status"], rows)

    # ---------------------------------------------------------------- (2) slopes
    slopes = {}
    for nm in names:
        xs = [m for m in ran if val(m, nm, "steps")]
        slopes[nm] = {"m": xs}
        for key in ("median_step", "mean_step", "median_flops", "mean_flops"):
            s, se = fit(xs, [val(m, nm, key) for m in xs])
            slopes[nm][key] = {"slope": s, "se": se}
    out.title("log-log slope against m (least squares over the m's run, ± standard error; cost ∝ m^slope)")
    rows = []
    for nm in names:
        s = slopes[nm]
        label, _ = predicted(nm, args.alpha)
        rows.append([nm, label] + [fmt_slope(s[k]["slope"], s[k]["se"])
                                   for k in ("median_step", "mean_step", "median_flops", "mean_flops")]
                    + [" / ".join(fmt_s(val(m, nm, "median_step")) for m in ran), len(s["m"])])
    out.table(["contender", "predicted", "s/step median", "s/step mean", "flops median", "flops mean",
               "median s/step at each m", "m's"], rows)

    # ---------------------------------------------------------------- (3) phases at the largest m
    phase_slopes = {}
    if big:
        for nm in dict.fromkeys(args.phases):
            r = res(big, nm)
            if nm not in names or not r or not r["steps"]:
                out.title(f"phases of {nm} at m = {big}: not run ({status(r) if r else 'not a contender'})")
                continue
            xs = [m for m in ran if val(m, nm, "steps")]
            phase_slopes[nm] = {}
            tot_s, tot_f = r["mean_step"], r["mean_flops"]
            rows = []
            for p in r["phase_names"]:
                ss, sse = fit(xs, [res(m, nm)["mean_phases"].get(p, math.nan) for m in xs])
                fs, fse = fit(xs, [res(m, nm)["mean_phase_flops"].get(p, math.nan) for m in xs])
                phase_slopes[nm][p] = {"seconds": {"slope": ss, "se": sse}, "flops": {"slope": fs, "se": fse}}
                ms_, mf = r["mean_phases"][p], r["mean_phase_flops"][p]
                rows.append([p, fmt_s(r["median_phases"][p]), fmt_s(ms_), fmt_pct(ms_ / tot_s),
                             fmt_f(r["median_phase_flops"][p]), fmt_f(mf), fmt_pct(mf / tot_f),
                             f"{mf / ms_ / 1e9:.2f}" if ms_ > 0 and mf > 0 else "—",
                             fmt_slope(ss, sse), fmt_slope(fs, fse)])
            extra = ""
            if nm == PAPER:
                extra = (f" rank_max = {problems[big]['rank_max']}, n = {n}: {r['folds']} folds in "
                         f"{len(r['steps'])} steps.")
            out.title(f"phases of {nm} at m = {big} (share of the mean step; slope over m = {xs[0]}..{xs[-1]})")
            out.para(f"median step {fmt_s(r['median_step'])}, mean {fmt_s(tot_s)}; median flops "
                     f"{fmt_f(r['median_flops'])}, mean {fmt_f(tot_f)}.{extra}")
            out.table(["phase", "median s", "mean s", "share s", "median flops", "mean flops", "share flops",
                       "GFlop/s", "slope s (mean)", "slope flops (mean)"], rows)

    # ---------------------------------------------------------------- paper-literal's fold, amortised
    fold_table = {}
    if PAPER in names and any(val(m, PAPER, "folds") for m in ran):
        rows = []
        for m in ran:
            r = res(m, PAPER)
            if not r or not r["steps"]:
                continue
            idx = [i for i, pf in enumerate(r["phase_flops"]) if pf.get("fold", 0.0) > 0]
            rest = float(np.mean([s - ph.get("fold", 0.0) for s, ph in zip(r["steps"], r["phases"])]))
            row = {"rank_max": problems[m]["rank_max"], "folds": len(idx), "steps": len(r["steps"]), "rest": rest}
            if idx:
                last = idx[-1]  # the first fold also copies W_L(0) (one-off): the rate is read off the last one
                fsec, fflops = r["phases"][last]["fold"], r["phase_flops"][last]["fold"]
                rate = fflops / fsec
                steady_fold = 2.0 * m * m * n / rate  # folding rank r every r/n steps: 2 m² n flops per step
                row.update(rank_folded=[r["phase_flops"][i]["fold"] / (2.0 * m * m) for i in idx],
                           sec_per_fold=[r["phases"][i]["fold"] for i in idx], rate=rate,
                           steady_fold=steady_fold, steady_step=rest + steady_fold)
            fold_table[m] = row
        xs = [m for m in fold_table if "steady_step" in fold_table[m]]
        st, stse = fit(xs, [fold_table[m]["steady_step"] for m in xs])
        for m, row in fold_table.items():
            dense = val(m, REFERENCE, "median_step")
            rows.append([m, row["rank_max"], f"{row['folds']}/{row['steps']}",
                         ", ".join(f"{x:.0f}" for x in row.get("rank_folded", [])) or "—",
                         ", ".join(fmt_s(x) for x in row.get("sec_per_fold", [])) or "—",
                         f"{row['rate'] / 1e9:.1f}" if "rate" in row else "—", fmt_s(row.get("steady_fold")),
                         fmt_s(row["rest"]), fmt_s(row.get("steady_step")), fmt_s(dense),
                         fmt_ratio(dense / row["steady_step"]) if "steady_step" in row else "—"])
        out.title(f"{PAPER}: the fold, amortised (derived from the measured folds, not timed as such)")
        out.para(f"Folding the factor list at rank r costs 2·m²·r flops (a classical GEMM) every r/n steps, so "
                 f"2·m²·n = {2 * n} m² flops per step amortised whatever rank_max is — as much as dense-gn's "
                 f"update GEMM. Steady-state estimate = mean non-fold part of the step + 2·m²·n flops at the "
                 f"rate of the last fold measured (the first fold also copies W_L(0)). Slope of the estimate over "
                 f"m = {xs[0] if xs else '—'}..{xs[-1] if xs else '—'}: {fmt_slope(st, stse)}.")
        out.table(["m", "rank_max", "folds/steps", "rank folded", "s per fold", "fold GFlop/s",
                   "amortised fold s/step", "rest of step (mean)", "steady s/step (est.)", "dense-gn s/step",
                   "dense-gn/steady"], rows)
        fold_table = {"rows": {str(m): v for m, v in fold_table.items()}, "steady_slope": {"slope": st, "se": stse}}

    # ---------------------------------------------------------------- targets
    targets = {}

    def top_phase(nm, m):
        r = res(m, nm)
        if not r or not r["steps"]:
            return None, math.nan
        p = max(r["mean_phases"], key=r["mean_phases"].get)
        return p, r["mean_phases"][p] / r["mean_step"]

    def steepest_phase(nm, m):
        """Of the phases holding >= 10% of the mean step at m, the one with the largest seconds slope."""
        r = res(m, nm)
        ps = phase_slopes.get(nm)
        if not r or not r["steps"] or not ps:
            return None, math.nan
        cand = [p for p in r["phase_names"] if r["mean_phases"][p] >= 0.1 * r["mean_step"]
                and fin(ps[p]["seconds"]["slope"])]
        if not cand:
            return None, math.nan
        p = max(cand, key=lambda q: ps[q]["seconds"]["slope"])
        return p, ps[p]["seconds"]["slope"]

    out.title("targets")
    lines = []
    if big and PAPER in names:
        goal = 2.0 - args.alpha
        for key, what in (("median_step", "median s/step (as asked)"), ("mean_step", "mean s/step (the run's folds amortised)")):
            s, se = slopes[PAPER][key]["slope"], slopes[PAPER][key]["se"]
            below = fin(s) and fin(se) and s + 2 * se < 2.0
            near = fin(s) and abs(s - goal) <= TARGET_A_TOL
            met = below and near
            p, share = top_phase(PAPER, big)
            q, qs = steepest_phase(PAPER, big)
            targets[f"a_{key}"] = {"slope": s, "se": se, "below_2": below, "within_tol": near, "met": met,
                                   "top_phase": p, "top_share": share, "steepest_phase": q, "steepest_slope": qs}
            lines.append(f"- (a) {PAPER}, slope of {what} = {fmt_slope(s, se)}: measurably below 2 (slope + 2·se "
                         f"< 2): {'yes' if below else 'no'}; within {TARGET_A_TOL:g} of 2 − α = {goal:g}: "
                         f"{'yes' if near else 'no'} → {'MET' if met else 'MISSED'}. At m = {big} the largest "
                         f"phase is {p} ({fmt_pct(share)} of the mean step); the steepest phase holding >= 10% is "
                         f"{q or '—'} (slope {fmt_f(qs)}).")
        if fold_table:
            st = fold_table["steady_slope"]
            lines.append(f"- (a) for reference, not a verdict: slope of {PAPER}'s steady-state estimate (fold "
                         f"amortised at 2·m²·n flops per step, table above) = {fmt_slope(st['slope'], st['se'])}.")
    if big and CACHED in names and REFERENCE in names:
        ratio = val(big, REFERENCE, "median_step") / val(big, CACHED, "median_step")
        s, se = slopes[CACHED]["median_step"]["slope"], slopes[CACHED]["median_step"]["se"]
        met = fin(ratio) and ratio >= TARGET_B_RATIO and fin(s) and s <= TARGET_B_SLOPE
        p, share = top_phase(CACHED, big)
        q, qs = steepest_phase(CACHED, big)
        targets["b"] = {"ratio": ratio, "slope": s, "se": se, "met": met, "top_phase": p, "top_share": share,
                        "steepest_phase": q, "steepest_slope": qs}
        lines.append(f"- (b) dense-gn / {CACHED} at m = {big} = {fmt_ratio(ratio)} (target >= {TARGET_B_RATIO:g}×), "
                     f"slope of its median s/step = {fmt_slope(s, se)} (target <= {TARGET_B_SLOPE:g}) → "
                     f"{'MET' if met else 'MISSED'}. At m = {big} the largest phase is {p} ({fmt_pct(share)} of "
                     f"the mean step); the steepest phase holding >= 10% is {q or '—'} (slope {fmt_f(qs)}).")
    for ln in lines or ["- not measured (needs the contenders and at least one m run)"]:
        print(ln)
    print()

    # ---------------------------------------------------------------- sanity
    if REFERENCE in names:
        out.title("sanity (not a test): max relative loss difference after each common step vs dense-gn "
                  "(where its loss > 1e-12·loss0)")
        rows = []
        for nm in names:
            if nm == REFERENCE:
                continue
            cells = []
            for m in ms:
                a = loss_agreement(res(m, nm), res(m, REFERENCE))
                mark = "" if nm not in EXACT or not fin(a) else (" ok" if a < 1e-6 else " DISAGREES")
                cells.append(f"{a:.1e}{mark}" if fin(a) else "—")
            rows.append([nm] + cells)
        out.table(["contender"] + [f"m = {m}" for m in ms], rows)

    payload = {"args": vars(args), "machine": mach, "blas_threads": threads_read,
               "env": {k: os.environ.get(k) for k in _env.THREAD_VARS}, "numpy": np.__version__,
               "scipy": scipy.__version__, "numba": numba.__version__, "load_average": [load_start, load_end],
               "seconds": total, "problems": {str(m): v for m, v in problems.items()}, "skips": skips,
               "largest_m_run": big, "slopes": slopes, "phase_slopes": phase_slopes, "fold": fold_table, "targets": targets,
               "results": {str(m): v for m, v in results.items()}}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(payload, fh, indent=1, default=float)
    brief = {"m": ran, "targets": targets,
             "median_step": {nm: [val(m, nm, "median_step") for m in ran] for nm in names},
             "median_flops": {nm: [val(m, nm, "median_flops") for m in ran] for nm in names},
             "slopes": {nm: {k: slopes[nm][k]["slope"] for k in ("median_step", "mean_step", "median_flops",
                                                                 "mean_flops")} for nm in names}}
    print("# json: " + json.dumps(brief, default=float))


if __name__ == "__main__":
    main()
