"""Cost per iteration: sublinear Gauss-Newton (seed 002 Alg. 5) against dense Gauss-Newton, seed 003 and GD.

    python benchmarks/cpi.py                              # m = 2^14 .. 2^22 (needs ~6 GiB, minutes)
    python benchmarks/cpi.py --log2m 14 16                # quicker
    python benchmarks/cpi.py --solvers sublinear-fast gauss-newton --json cpi.json
    python benchmarks/cpi.py --figure docs/cpi.png            # and the log-log figure (needs matplotlib)
    python benchmarks/cpi.py --repeat 3                       # every contender 3 times per m, in turn

Setting of seed 002: n = 16 points, d = 32, b = sqrt(0.48 ln m). Data X: standard normal rows
normalised to unit norm, y ~ N(0, 1), from `streams(seed)["data"]` (the same X, y at every m);
W0 and a defined by counter from the "init" stream's keys (`make_problem`, docs/theory.md §11): each
contender's init draws what it needs — the dense ones and the trees materialise W0, the active-set
index streams it —, so init times include drawing W0. Each contender's init is also timed a second time
from W0 given (drawn once per m before any clock, held, and read by every init: how this benchmark measured
before 2026-12-02); both times to target are reported. λ = λ_min of the exact shifted NTK
(`ntk_lambda(X, b)`), passed to every solver as `lam=`. All contenders at one m solve the
same problem, all widths run in one process, one contender alive at a time.

Contenders (name: solver and options):
  sublinear-paper          sublinear, defaults: regression=paper, index=tree, leaf_update=inner-product,
                           OSNAP sketch (the paper-faithful algorithm)
  sublinear-fast           sublinear, regression=exact-gram, index=active, leaf_update=gram (docs/theory.md §6 and
                           the active-set index: K_{t+1} ⊆ K_t, see solvers/sublinear.py)
  sublinear-fireset        sublinear, regression=exact-gram, index=fireset, leaf_update=gram
  sublinear-gram-tree      sublinear, regression=exact-gram, index=tree, leaf_update=gram
  sublinear-paper-fireset  sublinear, regression=paper, index=fireset, leaf_update=gram
  bpsw                     seed 003, defaults (CountSketch preconditioner + PCG, dense J)
  gauss-newton             dense exact Gauss-Newton (the reference)
  gd                       dense gradient descent, η = 1/λ_max(G_0); always runs --max-iter steps (its
                           time to target is shown when it gets there within the cap)
The "exact" sublinear variants are the exact-gram ones (no sketch, direct n×n solve); their
iterates equal dense Gauss-Newton's up to round-off. The paper/PCG regressions are exact only up
to ε_reg, BPSW up to cg_tol.

What is measured, per contender and m:
  init        StepRecord.seconds of solver.init() (one-off preprocessing), reported apart: drawing W0
              itself, and (column "init, W0 given") from a W0 already held (skipped with --no-given,
              or when holding W0 would not fit in half the available memory);
  step        StepRecord.seconds of each solver.step() (the sum of its timed phases), steps run
              until loss <= target·loss0 (default 1e-6) or --max-iter, but at least --min-steps
              (default 5: more samples for the median on a shared machine; the cost of a step does
              not depend on the loss); the table gives the median over all steps taken and, per
              phase, the median phase seconds;
  ratio       median step of gauss-newton / median step of the contender (same m);
  repeats     with --repeat R, every contender runs R times at each m, one after the other and then again
              (GN, paper, …, GN, paper, …), so that a slow phase of a shared machine falls on all of them:
              the step medians pool all R runs' steps, init and time to target are medians over the R
              runs, and each target also gives the range of its R per-repeat ratios (repeat k of GN
              against repeat k of the contender);
  slope       least-squares slope of log(median step) against log(m) over the m range;
  to target   time to bring the loss below target·loss0 = init + the sum of the step seconds up
              to and including the step that reaches it (phase sums, as the step column; the
              wall-clock around the init() and step() calls, loss evaluations excluded, is
              printed beside it). "—" if the cap came first. "to target, W0 given" = the init from a
              held W0 + the same step seconds (a step does not depend on how W0 came).
Loss evaluations (solver.loss(), a read-only view) happen between steps and are never timed.
Every contender first runs 2 steps on a tiny problem (m = 256, n = 4, d = 4) so no timing
includes Numba compilation. A solver error (rec.error) is recorded in the table, not raised.
Environment (see benchmarks/_env.py): the script re-executes itself with BLAS and Numba
pinned to --threads (default 1) and glibc keeping freed memory, and prefaults memory per m, to keep
two artefacts of a shared 2-core VM out of the timings; --threads 0 --no-retain measures raw.
Progress goes to stderr; the tables and a final machine-readable line (`# json: {...}`, also
written to --json if given) go to stdout.
"""

import argparse
import dataclasses
import gc
import json
import math
import os
import platform
import sys
import time

import numpy as np

import _env  # benchmarks/_env.py: threads, kept memory, prefault (shared by the benchmarks)
from simulator.data import make_dataset
from simulator.engine.runner import available_memory
from simulator.models.two_layer import make_problem
from simulator.streams import streams
from simulator.ntk import default_b
from simulator.ntk import ntk_lambda
from simulator.solvers import get_solver

CONTENDERS = {
    "sublinear-paper": ("sublinear", {}),
    "sublinear-fast": ("sublinear", {"regression": "exact-gram", "index": "active", "leaf_update": "gram"}),
    "sublinear-fireset": ("sublinear", {"regression": "exact-gram", "index": "fireset", "leaf_update": "gram"}),
    "sublinear-gram-tree": ("sublinear", {"regression": "exact-gram", "index": "tree", "leaf_update": "gram"}),
    "sublinear-paper-fireset": ("sublinear", {"regression": "paper", "index": "fireset", "leaf_update": "gram"}),
    "bpsw": ("bpsw", {}),
    "gauss-newton": ("gauss-newton", {}),
    "gd": ("gd", {}),
}
EXACT_SUBLINEAR = ("sublinear-fast", "sublinear-fireset", "sublinear-gram-tree")  # exact-gram: GN iterates up to round-off
REFERENCE = "gauss-newton"
RUN_TO_CAP = ("gd",)  # first-order: always runs --max-iter steps (its time to target shows if it gets there)

TARGET_RATIO = 60.0  # fastest exact sublinear per iteration vs dense GN at the largest m
TARGET_SLOPE = 0.76  # log-log slope of its step cost over the range
TARGET_TTT = 10.0  # its time to target vs dense GN
PAPER = "sublinear-paper"  # Algorithm 5 as printed, with targets of its own:
PAPER_RATIO = 6.0  # per iteration vs dense GN at the largest m
PAPER_SLOPE = 0.8  # log-log slope of its step cost over the range


def prefault(m, n, d, names):
    """Touch and free about the peak memory the contenders will need at this m (untimed)."""
    dense = any(CONTENDERS[nm][0] != "sublinear" for nm in names)
    words = m * (3 * d + 6 * n) if dense else m * 6 * n
    nbytes = min(8 * words, available_memory() // 2)
    _env.prefault(nbytes)
    return nbytes


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def build_problem(log2m, n, d, seed):
    rngs = streams(seed)
    X, y = make_dataset("sphere", n, d, rngs["data"])  # N(0, I) rows normalised; y ~ N(0, 1)
    m = 2**log2m
    b = default_b(m)
    problem = make_problem(X, y, m, b, rngs)
    return problem, ntk_lambda(problem.X, b)


def run_contender(name, problem, lam, max_iter, target, min_steps=0, tag=""):
    """Init, then steps until loss <= target·loss0 (and at least min_steps) or max_iter."""
    solver_name, options = CONTENDERS[name]
    # a fresh Problem on the same keys: each contender draws W0 itself (held or streamed) inside its own init,
    # instead of the first one to hold it paying for the others
    problem = dataclasses.replace(problem)
    solver = get_solver(solver_name)(problem, dict(options), lam=lam)
    out = {"name": name, "solver": solver_name, "options": options, "error": None, "steps": [],
           "wall_steps": [], "phases": [], "counters": [], "losses": [], "reached_at": None}
    t0 = time.perf_counter()
    rec = solver.init()
    out["wall_init"] = time.perf_counter() - t0
    out["init"] = rec.seconds
    out["info"] = {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in solver.info.items()}
    if rec.error:
        out["error"] = f"init: {rec.error}"
        log(f"{tag} {name}: init error: {rec.error}")
        return out
    loss0 = solver.loss()
    out["losses"].append(loss0)
    log(f"{tag} {name}: init {rec.seconds:.3f} s, loss0 {loss0:.4e}")
    for t in range(1, max_iter + 1):
        t0 = time.perf_counter()
        rec = solver.step()
        wall = time.perf_counter() - t0
        if rec.error:
            out["error"] = f"step {t}: {rec.error}"
            log(f"{tag} {name}: step {t} error: {rec.error}")
            break
        loss = solver.loss()
        out["steps"].append(rec.seconds)
        out["wall_steps"].append(wall)
        out["phases"].append(dict(rec.phase_seconds))
        out["counters"].append({k: v for k, v in rec.counters.items() if isinstance(v, (int, float))})
        out["losses"].append(loss)
        log(f"{tag} {name}: step {t} {rec.seconds * 1e3:9.2f} ms  loss/loss0 {loss / loss0:.3e}  "
            + " ".join(f"{k}={v * 1e3:.2f}" for k, v in rec.phase_seconds.items()))
        if not math.isfinite(loss):
            out["error"] = f"step {t}: loss not finite"
            break
        if out["reached_at"] is None and loss <= target * loss0:
            out["reached_at"] = t
        if out["reached_at"] is not None and t >= min_steps:
            break
    k = out["reached_at"]
    if k is not None:
        out["ttt"] = out["init"] + sum(out["steps"][:k])
        out["wall_ttt"] = out["wall_init"] + sum(out["wall_steps"][:k])
    del solver
    return out


def init_given(name, given, lam, out, tag=""):
    """Time the contender's init once more, from the W0 that `given` holds (drawn before any clock), and the time
    to target from it (the same steps: they do not depend on how W0 came)."""
    solver_name, options = CONTENDERS[name]
    solver = get_solver(solver_name)(given, dict(options), lam=lam)
    rec = solver.init()
    del solver
    if rec.error:
        log(f"{tag} {name}: init from the given W0: error: {rec.error}")
        return
    out["init_given"] = rec.seconds
    k = out["reached_at"]
    if k is not None:
        out["ttt_given"] = rec.seconds + sum(out["steps"][:k])
    log(f"{tag} {name}: init from the given W0 {rec.seconds:.3f} s")


def hold_w0(problem):
    """A Problem on the same keys that holds W0 and a (drawn here, untimed by the contenders), or None when
    W0 would take more than half the available memory."""
    if 8 * problem.m * problem.d > available_memory() // 2:
        return None
    given = dataclasses.replace(problem)
    t0 = time.perf_counter()
    given.W0, given.a  # noqa: B018  (materialise them)
    log(f"drew and held W0 ({8 * problem.m * problem.d / 2**30:.2f} GiB) in {time.perf_counter() - t0:.2f} s "
        "(untimed: the 'W0 given' inits read it)")
    return given


def slope_verdict(slope, target):
    """MET / MISSED, or why there is no slope (a single width: nothing to fit)."""
    if not math.isfinite(slope):
        return "not measured (a slope needs two widths or more)"
    return "MET" if slope <= target else "MISSED"


def summarise(r):
    """Medians of the per-step figures."""
    if r["steps"]:
        r["median_step"] = float(np.median(r["steps"]))
        r["median_wall_step"] = float(np.median(r["wall_steps"]))
        names = []
        for ph in r["phases"]:
            names += [k for k in ph if k not in names]
        r["median_phases"] = {k: float(np.median([ph.get(k, 0.0) for ph in r["phases"]])) for k in names}
        keys = []
        for c in r["counters"]:
            keys += [k for k in c if k not in keys]
        r["median_counters"] = {k: float(np.median([c[k] for c in r["counters"] if k in c])) for k in keys}
    else:
        r["median_step"] = r["median_wall_step"] = math.nan
        r["median_phases"], r["median_counters"] = {}, {}
    return r


def merge(runs):
    """One contender at one m over its repeats: every step pooled (the step medians are over all of them), the init
    and the times to target the median over the repeats; `repeats` keeps each repeat's own figures, for the spread.
    With one repeat, the run itself."""
    runs = [summarise(r) for r in runs]
    out = dict(runs[0])
    for key in ("steps", "wall_steps", "phases", "counters"):
        out[key] = [x for r in runs for x in r[key]]
    out["error"] = next((r["error"] for r in runs if r["error"]), None)
    for key in ("init", "wall_init", "init_given", "ttt", "wall_ttt", "ttt_given"):
        values = [r[key] for r in runs if key in r]
        if len(values) == len(runs):
            out[key] = float(np.median(values))
        else:  # a repeat without it (an error, or the target not reached): none for the contender
            out.pop(key, None)
    out["repeats"] = [{k: r.get(k, math.nan) for k in ("median_step", "init", "init_given", "ttt", "ttt_given")}
                      for r in runs]
    return summarise(out)


def spread(ref, r, key):
    """' (a–b× over the repeats)': the range of the per-repeat ratios ref/r of `key`, repeat k against repeat k
    (run next to each other); '' with a single repeat."""
    pairs = [(x[key], y[key]) for x, y in zip(ref["repeats"], r["repeats"])]
    ratios = [a / b for a, b in pairs if math.isfinite(a) and math.isfinite(b) and b > 0]
    if len(ref["repeats"]) < 2 or not ratios:
        return ""
    return f" ({min(ratios):.1f}–{max(ratios):.1f}× over the {len(ratios)} repeats)"


def warm_up(names):
    """2 steps of every contender on a tiny problem, so Numba compiles (or loads) every kernel."""
    for seed in range(20):
        problem, lam = build_problem(8, 4, 4, seed)  # m = 256, n = 4, d = 4
        errors = []
        for name in names:
            r = run_contender(name, problem, lam, 2, 0.0, tag="[warm-up]")
            if r["error"] or len(r["steps"]) < 2:
                errors.append(f"{name}: {r['error']}")
        if not errors:
            return
        log(f"[warm-up] seed {seed}: {'; '.join(errors)}; trying the next seed")
    log("[warm-up] WARNING: some contender failed on every warm-up seed; first timings may include compilation")


def slope(xs, ys):
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if y and math.isfinite(y) and y > 0]
    if len(pts) < 2:
        return math.nan
    a, _ = np.polyfit([p[0] for p in pts], [p[1] for p in pts], 1)
    return float(a)


def draw_figure(path, ms, names, results, args, slopes, load_start, load_end):
    """Median seconds per step against m, log-log, one line per contender (its fitted slope in the legend), with
    m^0.76 (seed 002's claimed exponent) and m^1 guides through the reference's first point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    for name in names:
        ys = [results[k][name]["median_step"] for k in args.log2m]
        ax.loglog(ms, ys, marker="o", label=f"{name} (slope {slopes[name]['step']:.2f})")
    ref = results[args.log2m[0]].get(REFERENCE)
    if ref and len(ms) > 1:
        y0, m0 = ref["median_step"], ms[0]
        for e, style in ((0.76, ":"), (1.0, "--")):
            ax.loglog(ms, [y0 * (m / m0) ** e for m in ms], "k" + style, lw=1, label=f"m^{e:g} guide")
    ax.set_xlabel("width m (neurons)")
    ax.set_ylabel("median seconds per iteration")
    ax.set_title(f"Cost per iteration, n = {args.n}, d = {args.d}, b = √(0.48 ln m)\n"
                 f"benchmarks/cpi.py, one process, load average {load_start[0]:.1f}–{load_end[0]:.1f}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    log(f"figure written to {path}")


def fmt_s(x):
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x * 1e3:.2f} ms" if x < 1 else f"{x:.2f} s"


def fmt_ratio(x):
    return "—" if x is None or not math.isfinite(x) else f"{x:.1f}×"


def loss_agreement(r, ref):
    """Max relative difference of the loss after each common iteration (above 1e-12·loss0), vs ref."""
    if not ref or not r["losses"] or not ref["losses"]:
        return math.nan
    L0 = ref["losses"][0]
    diffs = [abs(a - b) / b for a, b in zip(r["losses"], ref["losses"]) if b > 1e-12 * L0]
    return max(diffs) if diffs else math.nan


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log2m", type=int, nargs="+", default=[14, 16, 18, 20, 22], help="log2 of the widths m")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--max-iter", type=int, default=10, help="cap on steps per contender")
    parser.add_argument("--min-steps", type=int, default=5,
                        help="keep stepping after the target until this many steps, for more timing samples "
                             "on a loaded machine (the time to target still stops at the target)")
    parser.add_argument("--target", type=float, default=1e-6, help="loss target, relative to the initial loss")
    parser.add_argument("--solvers", nargs="+", default=list(CONTENDERS), choices=list(CONTENDERS),
                        metavar="NAME", help=f"contenders (default all: {', '.join(CONTENDERS)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every contender this many times at each m, in turn (contender after contender, "
                             "then again), so a slow phase of a shared machine falls on all of them: medians pool "
                             "every step, inits and times to target are medians over the repeats, and the targets "
                             "give the spread of the per-repeat ratios")
    parser.add_argument("--json", help="also write the results (per-step figures included) to this file")
    parser.add_argument("--figure", help="also draw median seconds per step against m (log-log, every contender "
                                         "with its fitted slope, m^0.76 and m^1 guides) into this PNG/PDF "
                                         "(needs matplotlib: pip install -e '.[plot]')")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS and Numba threads for every contender (0: leave the environment alone)")
    parser.add_argument("--no-given", action="store_true",
                        help="skip the second init of every contender from a W0 drawn before the clock")
    parser.add_argument("--no-retain", action="store_true",
                        help="do not keep freed memory in the process nor prefault it (see benchmarks/_env.py)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat: {args.repeat} is not a positive count")
    _env.reexec(__file__, _env.wanted_env(args.threads, not args.no_retain), sys.argv[1:])
    names = list(dict.fromkeys(args.solvers))

    import numba

    load_start = os.getloadavg()
    t_start = time.perf_counter()
    warm_up(names)
    log(f"[warm-up] done in {time.perf_counter() - t_start:.1f} s")

    results = {}  # log2m -> name -> result
    problems = {}
    for log2m in args.log2m:
        problem, lam = build_problem(log2m, args.n, args.d, args.seed)
        problems[log2m] = {"m": problem.m, "b": problem.b, "lambda": lam}
        log(f"[2^{log2m}] m = {problem.m}, b = {problem.b:.4f}, λ = {lam:.4e}")
        if not args.no_retain:
            t0 = time.perf_counter()
            nbytes = prefault(problem.m, args.n, args.d, names)
            log(f"[2^{log2m}] prefaulted {nbytes / 2**30:.2f} GiB in {time.perf_counter() - t0:.1f} s (untimed)")
        runs = {name: [] for name in names}  # name -> one result per repeat
        tags = [f"[2^{log2m}]" + (f"[{k + 1}/{args.repeat}]" if args.repeat > 1 else "") for k in range(args.repeat)]
        for tag in tags:
            for name in names:
                runs[name].append(run_contender(name, problem, lam, args.max_iter, args.target,
                                                args.max_iter if name in RUN_TO_CAP else args.min_steps, tag=tag))
                gc.collect()
        given = None if args.no_given else hold_w0(problem)
        if given is not None:
            for k, tag in enumerate(tags):
                for name in names:
                    if not runs[name][k]["error"]:
                        init_given(name, given, lam, runs[name][k], tag=tag)
                    gc.collect()
        results[log2m] = {name: merge(runs[name]) for name in names}
        del problem, given
        gc.collect()
    load_end = os.getloadavg()
    total = time.perf_counter() - t_start

    # ---------------------------------------------------------------- tables
    ms = [2**k for k in args.log2m]
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"{numba.config.NUMBA_NUM_THREADS} numba threads, python {platform.python_version()}, "
          f"numpy {np.__version__}, numba {numba.__version__}; load average {load_start[0]:.2f} at start, "
          f"{load_end[0]:.2f} at end; whole run {total:.0f} s; freed memory "
          f"{'returned to the OS (--no-retain)' if args.no_retain else 'kept in the process + prefaulted per m'}")
    print(f"# n = {args.n}, d = {args.d}, b = sqrt(0.48 ln m), seed {args.seed}, target loss <= "
          f"{args.target:g}·loss0, cap {args.max_iter} steps; step = median StepRecord.seconds over the steps "
          f"taken; to target = init + Σ step seconds (phase sums; wall around the calls beside it)"
          + (f"; {args.repeat} repeats per m, contender after contender: steps pooled, inits and times to target "
             f"the median over the repeats" if args.repeat > 1 else ""))
    print()
    header = ("| m | contender | init | init, W0 given | median step | GN/this per step | steps to target / taken | "
              "to target (phases) | (wall) | GN/this to target | to target, W0 given | GN/this, W0 given | "
              "loss/loss0 there | max rel. loss diff vs GN | Σ|S_i| | \\|K\\| | reg. iters | error |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1 - header.count("\\|")))
    for log2m in args.log2m:
        row = results[log2m]
        ref = row.get(REFERENCE)
        for name in names:
            r = row[name]
            c = r["median_counters"]
            ratio = ref["median_step"] / r["median_step"] if ref else math.nan
            ttt_ratio = (ref["ttt"] / r["ttt"]) if ref and "ttt" in ref and "ttt" in r else math.nan
            given_ratio = (ref["ttt_given"] / r["ttt_given"] if ref and "ttt_given" in ref and "ttt_given" in r
                           else math.nan)
            k = r["reached_at"] or len(r["steps"])  # the loss at the target (or at the cap)
            final = r["losses"][k] / r["losses"][0] if len(r["losses"]) > k else math.nan
            agree = loss_agreement(r, ref) if name != REFERENCE and name not in RUN_TO_CAP else math.nan
            reached = f"{r['reached_at'] or '>' + str(len(r['steps']))} / {len(r['steps'])}"
            print(f"| 2^{log2m} | {name} | {fmt_s(r['init'])} | {fmt_s(r.get('init_given'))} | "
                  f"{fmt_s(r['median_step'])} | {fmt_ratio(ratio)} | "
                  f"{reached} | {fmt_s(r.get('ttt'))} | {fmt_s(r.get('wall_ttt'))} | {fmt_ratio(ttt_ratio)} | "
                  f"{fmt_s(r.get('ttt_given'))} | {fmt_ratio(given_ratio)} | "
                  f"{final:.2e} | {'—' if not math.isfinite(agree) else f'{agree:.1e}'} | "
                  f"{c.get('fire_total', float('nan')):.0f} | {c.get('neurons_changed', float('nan')):.0f} | "
                  f"{c.get('reg_iterations', float('nan')):.0f} | {(r['error'] or '')[:80]} |")
    print()

    # phase breakdown
    print("Median seconds per phase (share of the median step):")
    print()
    print("| m | contender | phases |")
    print("|---|---|---|")
    for log2m in args.log2m:
        for name in names:
            r = results[log2m][name]
            tot = sum(r["median_phases"].values()) or math.nan
            cells = ", ".join(f"{k} {fmt_s(v)} ({100 * v / tot:.0f}%)" for k, v in r["median_phases"].items())
            print(f"| 2^{log2m} | {name} | {cells} |")
    print()

    # slopes
    print("Log-log slope against m over the range (least squares; cost ∝ m^slope):")
    print()
    top = args.log2m[-3:] if len(args.log2m) >= 3 else args.log2m
    print(f"| contender | step | step, 2^{top[0]}..2^{top[-1]} | init | to target | step at each m |")
    print("|---|---|---|---|---|---|")
    slopes = {}
    for name in names:
        steps = [results[k][name]["median_step"] for k in args.log2m]
        tail = [results[k][name]["median_step"] for k in top]
        inits = [results[k][name]["init"] for k in args.log2m]
        ttts = [results[k][name].get("ttt", math.nan) for k in args.log2m]
        slopes[name] = {"step": slope(ms, steps), "step_top": slope([2**k for k in top], tail),
                        "init": slope(ms, inits), "ttt": slope(ms, ttts)}
        s = slopes[name]
        print(f"| {name} | {s['step']:.2f} | {s['step_top']:.2f} | {s['init']:.2f} | {s['ttt']:.2f} | "
              f"{' / '.join(fmt_s(x) for x in steps)} |")
    print()

    # targets
    big = args.log2m[-1]
    exact = [nm for nm in EXACT_SUBLINEAR if nm in names and math.isfinite(results[big][nm]["median_step"])]
    checks = {}
    if exact and REFERENCE in names:
        best = min(exact, key=lambda nm: results[big][nm]["median_step"])
        ref = results[big][REFERENCE]
        rb = results[big][best]
        ratio = ref["median_step"] / rb["median_step"]
        ttt_ratio = ref["ttt"] / rb["ttt"] if "ttt" in ref and "ttt" in rb else math.nan
        given_ratio = ref["ttt_given"] / rb["ttt_given"] if "ttt_given" in ref and "ttt_given" in rb else math.nan
        sl = slopes[best]["step"]
        checks = {"fastest_exact": best, "ratio": ratio, "slope": sl, "ttt_ratio": ttt_ratio,
                  "ttt_ratio_w0_given": given_ratio}
        print(f"Targets at m = 2^{big} (fastest exact sublinear variant by median step: {best}):")
        print(f"- per iteration, dense GN / {best} = {ratio:.1f}×{spread(ref, rb, 'median_step')} (target >= "
              f"{TARGET_RATIO:g}×): {'MET' if ratio >= TARGET_RATIO else 'MISSED'}")
        print(f"- slope of its step cost over 2^{args.log2m[0]}..2^{big} = {sl:.2f} (target <= {TARGET_SLOPE:g}): "
              f"{slope_verdict(sl, TARGET_SLOPE)}")
        verdict = ("not measured (--no-given, or W0 did not fit)" if not math.isfinite(given_ratio) else
                   "MET" if given_ratio >= TARGET_TTT else "MISSED")
        print(f"- time to {args.target:g}·loss0 (init included, W0 given as the target was set), dense GN / {best} "
              f"= {fmt_ratio(given_ratio)}{spread(ref, rb, 'ttt_given')} (target >= {TARGET_TTT:g}×): {verdict}")
        print(f"- the same with W0 drawn inside each init (every init pays for its normals: {fmt_s(ref['init'])} "
              f"for GN, {fmt_s(rb['init'])} for {best}) = {fmt_ratio(ttt_ratio)}{spread(ref, rb, 'ttt')} "
              f"({'at or above' if math.isfinite(ttt_ratio) and ttt_ratio >= TARGET_TTT else 'below'} "
              f"{TARGET_TTT:g}×)")
        if PAPER in names and math.isfinite(results[big][PAPER]["median_step"]):
            pr = ref["median_step"] / results[big][PAPER]["median_step"]
            psl = slopes[PAPER]["step"]
            checks.update(paper_ratio=pr, paper_slope=psl)
            print(f"- per iteration, dense GN / {PAPER} (Algorithm 5 as printed) = {pr:.1f}×"
                  f"{spread(ref, results[big][PAPER], 'median_step')} (target >= "
                  f"{PAPER_RATIO:g}×): {'MET' if pr >= PAPER_RATIO else 'MISSED'}")
            print(f"- slope of {PAPER}'s step cost over 2^{args.log2m[0]}..2^{big} = {psl:.2f} (target <= "
                  f"{PAPER_SLOPE:g}): {slope_verdict(psl, PAPER_SLOPE)}")
        for k in args.log2m:
            order = sorted((nm for nm in names if nm.startswith("sublinear")
                            and math.isfinite(results[k][nm]["median_step"])),
                           key=lambda nm: results[k][nm]["median_step"])
            print(f"- 2^{k}: sublinear variants fastest first: "
                  + ", ".join(f"{nm} {fmt_s(results[k][nm]['median_step'])}" for nm in order))
        print()

    # sanity: exact contenders follow GN
    if REFERENCE in names:
        print("Sanity (not a test): loss after GN's target iteration k, and the max relative difference of the "
              "loss after each common iteration (where GN's is above 1e-12·loss0), vs dense GN; exact-gram "
              "variants should agree to round-off, paper/PCG/BPSW within their tolerances:")
        for log2m in args.log2m:
            ref = results[log2m][REFERENCE]
            k = ref["reached_at"] or len(ref["steps"])
            L0 = ref["losses"][0]
            parts = []
            for name in names:
                if name == REFERENCE or name in RUN_TO_CAP:
                    continue
                r = results[log2m][name]
                agree = loss_agreement(r, ref)
                at_k = r["losses"][k] / L0 if len(r["losses"]) > k else math.nan
                ok = "" if name not in EXACT_SUBLINEAR else (" ok" if agree < 1e-6 else " DISAGREES")
                parts.append(f"{name} {at_k:.3e} (max rel. diff {agree:.1e}{ok})")
            print(f"- 2^{log2m}: after k = {k}: GN {ref['losses'][k] / L0:.3e}; " + "; ".join(parts))
        print()

    payload = {"args": vars(args), "load_average": [load_start, load_end], "seconds": total,
               "problems": problems, "slopes": slopes, "targets": checks,
               "results": {str(k): v for k, v in results.items()}}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(payload, fh, indent=1, default=float)
    if args.figure:
        draw_figure(args.figure, ms, names, results, args, slopes, load_start, load_end)
    brief = {"log2m": args.log2m, "targets": checks,
             "median_step": {nm: [results[k][nm]["median_step"] for k in args.log2m] for nm in names},
             "init": {nm: [results[k][nm]["init"] for k in args.log2m] for nm in names},
             "ttt": {nm: [results[k][nm].get("ttt") for k in args.log2m] for nm in names},
             "ttt_w0_given": {nm: [results[k][nm].get("ttt_given") for k in args.log2m] for nm in names}}
    print("# json: " + json.dumps(brief, default=float))


if __name__ == "__main__":
    main()
