"""Does preprocessing help? Seed 001 (Song, Yang, Zhang): gradient descent through a fire-set structure.

    python benchmarks/preprocess.py                                  # d = 4..32, m = 2^14..2^22 (~5 GiB, ~5 min on a 2-core VM)
    python benchmarks/preprocess.py --d 4 32 --log2m 12 14 --max-iter 3 --min-steps 2   # a quick check
    python benchmarks/preprocess.py --contenders gd alg3-data-hsr --json preprocess.json

Setting of seed 001: n = 16 points in d ∈ {4, 8, 16, 32} dimensions, b = sqrt(0.4 ln m)
(`b_from_alpha_bar(m, 0.2)`). Data X: standard normal rows normalised to unit norm, y ~ N(0, 1),
from `streams(seed)["data"]` (for one d the same X, y at every m); W0 and a from the "init" stream
(`make_problem`); λ = λ_min of the exact shifted NTK (`ntk_lambda(X, b)`), passed as `lam=`. All
contenders at one (d, m) solve the same problem in one process, one contender alive at a time,
its memory freed before the next; a contender whose estimated peak memory
(`Solver.memory_words`) does not fit in the memory available is skipped, and the skip is printed.

Contenders (name: solver and options; every one gradient descent with η = "auto" = 1/λ_max(G_0),
so every one is exact: its iterates are dense GD's up to round-off):
  gd                dense gradient descent (solver gd), O(mnd) per step: the reference
  alg2-weights-hsr  seed 001 Algorithm 2: preprocess, index = weights-hsr (ball tree over the weights,
                    queried with each x_i; moved neurons deleted/re-added; rebuilt when degraded)
  alg3-data-hsr     seed 001 Algorithm 3: preprocess, index = data-hsr (ball tree over the n points,
                    queried with each moved w_r)
  active            preprocess, index = active, leaf_update = gram (K_{t+1} ⊆ K_t, one fused pass)
  drift-slack       preprocess, index = drift-slack (static trees over W0 queried at b − D_t + exact filter)
  tree              preprocess, index = tree, leaf_update = gram (seed 002's threshold-search trees)

What is measured, per contender and (d, m):
  init        StepRecord.seconds of solver.init() (one-off preprocessing), reported apart;
  step        StepRecord.seconds of each solver.step(); steps run until loss <= target·loss0 (default
              1e-6) or --max-iter (default 10), but at least --min-steps (default 5); the median over
              the steps taken, the median of each phase, and the median of every counter the step
              reports in StepRecord.counters (query_nodes, update_nodes, rebuilds, candidates,
              memberships_changed, nodes_touched, fire_total, neurons_changed, move_max);
  ratio       median step of dense gd / median step of the contender (same d, m);
  per query   for alg2-weights-hsr: nodes visited per query during the run (median over steps of
              query_nodes / n), and, on the run's tree at t = 0 (right after init, untimed for the
              run), the time of one BallTree.query(x_i, b) against the brute-force route it replaces,
              W0 @ x_i then threshold (np.flatnonzero(u > b)); each timed --repeat times per point
              (best kept), then the median over the n points; both answers are checked equal;
  exactness   (a sanity check, not a test) the max relative difference of the loss after each common
              step against dense gd's (where gd's loss is above 1e-12·loss0); should be <= 1e-9;
  slopes      least-squares slope of log(median step) against log(m), per contender and d; per d the
              fitted exponent of alg2's nodes visited per query against m, beside the paper's
              m^{1 − 1/⌊d/2⌋} (d = 4: 1/2, 8: 3/4, 16: 7/8, 32: 15/16).
Targets (at the largest m of the run, 2^22 by default), printed MET / MISSED with the figure:
  (1) d = 4: the weights-hsr query >= 10× faster than brute force, per query;
  (2) Algorithm 3's step >= 5× below dense GD's, every d;
  (3) GD with the active set >= 10× below dense GD, every d.
Loss evaluations (solver.loss(), a read-only view) happen between steps and are never timed.
Every contender first runs 2 steps on a tiny problem (m = 256, n = 4, d = 4), and the per-query
probe runs once on it, so no timing includes Numba compilation. A solver error (rec.error) or an
exception (its traceback goes to stderr and into the JSON) is recorded in the tables, not raised.
Environment, as benchmarks/cpi.py (see benchmarks/_env.py): the script re-executes itself
with BLAS and Numba pinned to --threads (default 1) and glibc keeping freed memory, and prefaults
memory per (d, m); --threads 0 --no-retain measures raw. Progress goes to stderr; the tables and a
final machine-readable line (`# json: {...}`, the full results also written to --json if given)
go to stdout.
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
import traceback

import numpy as np

import _env  # benchmarks/_env.py: threads, kept memory, prefault (shared by the benchmarks)
from simulator.data import make_dataset
from simulator.models import two_layer
from simulator.models.two_layer import make_problem
from simulator.ntk import b_from_alpha_bar, ntk_lambda
from simulator.solvers import get_solver
from simulator.streams import streams

CONTENDERS = {
    "gd": ("gd", {"learning_rate": "auto"}),
    "alg2-weights-hsr": ("preprocess", {"index": "weights-hsr", "learning_rate": "auto"}),
    "alg3-data-hsr": ("preprocess", {"index": "data-hsr", "learning_rate": "auto"}),
    "active": ("preprocess", {"index": "active", "leaf_update": "gram", "learning_rate": "auto"}),
    "drift-slack": ("preprocess", {"index": "drift-slack", "learning_rate": "auto"}),
    "tree": ("preprocess", {"index": "tree", "leaf_update": "gram", "learning_rate": "auto"}),
}
REFERENCE = "gd"
ALG2, ALG3, ACTIVE = "alg2-weights-hsr", "alg3-data-hsr", "active"
ALPHA_BAR = 0.2  # b = sqrt(0.5 (1 − 0.2) ln m) = sqrt(0.4 ln m)

TARGET_QUERY = 10.0  # (1) brute / weights-hsr per query, d = 4, largest m
TARGET_ALG3 = 5.0  # (2) dense gd / alg3 per step, largest m, every d
TARGET_ACTIVE = 10.0  # (3) dense gd / active per step, largest m, every d
EXACT_TOL = 1e-9  # relative loss agreement with dense gd



def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- problem and runs
def build_problem(d, log2m, n, seed):
    rngs = streams(seed)
    X, y = make_dataset("sphere", n, d, rngs["data"])  # N(0, I) rows normalised; y ~ N(0, 1)
    m = 2**log2m
    b = b_from_alpha_bar(m, ALPHA_BAR)
    problem = make_problem(X, y, m, b, rngs)
    return problem, ntk_lambda(problem.X, b)


def need_bytes(name, n, d, m):
    """Estimated peak bytes of a contender beyond the problem (its arrays, the leaf matrix, 300 MiB)."""
    solver_name, options = CONTENDERS[name]
    words = get_solver(solver_name).memory_words(n, d, m, dict(options)) + n * m
    return 8 * words + 300 * 2**20


def problem_bytes(n, d, m):
    return 8 * (two_layer.memory_words(n, d, m) - n * m)  # W0, a, marks (the leaf matrix is counted above)


def probe_queries(tree, W0, X, b, repeat):
    """Per query at t = 0: BallTree.query(x_i, b, sort=False) (the report as a set) against W0 @ x_i then threshold, best of `repeat`
    each, median over the points; nodes visited per query; and whether both routes agree."""
    t_tree, t_brute, nodes, hits = [], [], [], []
    agree = True
    for x in X:
        before = tree.nodes_visited
        best = math.inf
        for _ in range(repeat):
            t0 = time.perf_counter()
            ids = tree.query(x, b, sort=False)  # a half-space report is a set, as W0 @ x > b is
            best = min(best, time.perf_counter() - t0)
        t_tree.append(best)
        nodes.append((tree.nodes_visited - before) / repeat)
        best = math.inf
        for _ in range(repeat):
            t0 = time.perf_counter()
            ref = np.flatnonzero(W0 @ x > b)
            best = min(best, time.perf_counter() - t0)
        t_brute.append(best)
        hits.append(int(ref.shape[0]))
        agree = agree and np.array_equal(np.sort(ids), ref)
    tq, tb = float(np.median(t_tree)), float(np.median(t_brute))
    return {"tree_s": tq, "brute_s": tb, "ratio": tb / tq if tq > 0 else math.nan,
            "nodes": float(np.median(nodes)), "hits": float(np.median(hits)), "n_nodes": int(tree.n_nodes),
            "agree": bool(agree), "tree_s_all": t_tree, "brute_s_all": t_brute}


def run_contender(name, problem, lam, args, tag=""):
    """Init, then steps until loss <= target·loss0 (and at least min_steps) or max_iter."""
    solver_name, options = CONTENDERS[name]
    out = {"name": name, "solver": solver_name, "options": options, "error": None, "traceback": None,
           "skipped": None, "init": math.nan, "steps": [], "phases": [], "counters": [], "losses": [],
           "probe": None}
    solver = None
    try:
        problem = dataclasses.replace(problem)  # a fresh Problem: each contender draws W0 in its own init
        solver = get_solver(solver_name)(problem, dict(options), lam=lam)
        rec = solver.init()
        out["init"] = rec.seconds
        out["init_counters"] = {k: v for k, v in rec.counters.items() if isinstance(v, (int, float))}
        if rec.error:
            out["error"] = f"init: {rec.error}"
            log(f"{tag} {name}: init error: {rec.error}")
            return out
        if name == ALG2:  # the per-query probe on the run's tree at t = 0 (untimed for the run)
            out["probe"] = probe_queries(solver.index.tree, problem.W0, problem.X, problem.b, args.repeat)
            pr = out["probe"]
            log(f"{tag} {name}: per query at t = 0: tree {pr['tree_s'] * 1e6:.1f} µs, brute "
                f"{pr['brute_s'] * 1e6:.1f} µs, {pr['nodes']:.0f} of {pr['n_nodes']} nodes, "
                f"{'agree' if pr['agree'] else 'DISAGREE'}")
        loss0 = solver.loss()
        out["losses"].append(loss0)
        log(f"{tag} {name}: init {rec.seconds:.3f} s, loss0 {loss0:.4e}")
        reached = False
        for t in range(1, args.max_iter + 1):
            rec = solver.step()
            if rec.error:
                out["error"] = f"step {t}: {rec.error}"
                log(f"{tag} {name}: step {t} error: {rec.error}")
                break
            loss = solver.loss()
            out["steps"].append(rec.seconds)
            out["phases"].append(dict(rec.phase_seconds))
            out["counters"].append({k: v for k, v in rec.counters.items() if isinstance(v, (int, float))})
            out["losses"].append(loss)
            log(f"{tag} {name}: step {t} {rec.seconds * 1e3:9.2f} ms  loss/loss0 {loss / loss0:.3e}  "
                + " ".join(f"{k}={v * 1e3:.2f}" for k, v in rec.phase_seconds.items()))
            if not math.isfinite(loss):
                out["error"] = f"step {t}: loss not finite"
                break
            reached = reached or loss <= args.target * loss0
            if reached and t >= args.min_steps:
                break
    except Exception as exc:  # an index raising at some size: record it precisely, go on
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
        log(f"{tag} {name}: EXCEPTION\n{out['traceback']}")
    finally:
        del solver
    return out


def summarise(r):
    """Medians of the per-step figures."""
    if r["steps"]:
        r["median_step"] = float(np.median(r["steps"]))
        names = []
        for ph in r["phases"]:
            names += [k for k in ph if k not in names]
        r["median_phases"] = {k: float(np.median([ph.get(k, 0.0) for ph in r["phases"]])) for k in names}
        keys = []
        for c in r["counters"]:
            keys += [k for k in c if k not in keys]
        r["median_counters"] = {k: float(np.median([c[k] for c in r["counters"] if k in c])) for k in keys}
    else:
        r["median_step"] = math.nan
        r["median_phases"], r["median_counters"] = {}, {}
    return r


def warm_up(names, args):
    """2 steps of every contender on a tiny problem (and the per-query probe), so Numba compiles."""
    tiny = argparse.Namespace(max_iter=2, min_steps=2, target=0.0, repeat=1)
    for seed in range(20):
        problem, lam = build_problem(4, 8, 4, seed)  # m = 256, n = 4, d = 4
        errors = []
        for name in names:
            r = run_contender(name, problem, lam, tiny, tag="[warm-up]")
            if r["error"] or len(r["steps"]) < 2:
                errors.append(f"{name}: {r['error']}")
        if not errors:
            return
        log(f"[warm-up] seed {seed}: {'; '.join(errors)}; trying the next seed")
    log("[warm-up] WARNING: some contender failed on every warm-up seed; first timings may include compilation")


# ---------------------------------------------------------------- figures
def slope(xs, ys):
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if y is not None and math.isfinite(y) and y > 0]
    if len(pts) < 2:
        return math.nan
    a, _ = np.polyfit([p[0] for p in pts], [p[1] for p in pts], 1)
    return float(a)


def fin(x):
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def fmt_ms(x):
    return f"{x * 1e3:.2f}" if fin(x) else "—"


def fmt_s(x):
    if not fin(x):
        return "—"
    return f"{x * 1e3:.2f} ms" if x < 1 else f"{x:.2f} s"


def fmt_us(x):
    return f"{x * 1e6:.1f}" if fin(x) else "—"


def fmt_ratio(x):
    return f"{x:.1f}×" if fin(x) else "—"


def fmt_num(x, digits=0):
    return f"{x:.{digits}f}" if fin(x) else "—"


def paper_exponent(d):
    return 1.0 - 1.0 / (d // 2) if d >= 2 else math.nan


def loss_agreement(r, ref):
    """Max relative difference of the loss after each common step (where ref's is above 1e-12·loss0)."""
    if not ref or not r["losses"] or not ref["losses"]:
        return math.nan
    L0 = ref["losses"][0]
    diffs = [abs(a - b) / b for a, b in zip(r["losses"], ref["losses"]) if b > 1e-12 * L0]
    return max(diffs) if diffs else math.nan


def cell(r, value):
    """A table cell: the value, or why there is none."""
    if r is None:
        return "—"
    if r.get("skipped"):
        return "skip"
    if r.get("error") and not r["steps"]:
        return "error"
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--d", type=int, nargs="+", default=[4, 8, 16, 32], help="input dimensions d")
    parser.add_argument("--log2m", type=int, nargs="+", default=[14, 16, 18, 20, 22], help="log2 of the widths m")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--max-iter", type=int, default=10, help="cap on steps per contender")
    parser.add_argument("--min-steps", type=int, default=5,
                        help="keep stepping after the target until this many steps (more timing samples)")
    parser.add_argument("--target", type=float, default=1e-6, help="loss target, relative to the initial loss")
    parser.add_argument("--repeat", type=int, default=5, help="timed repeats per point of the per-query probe")
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=list(CONTENDERS),
                        metavar="NAME", help=f"contenders (default all: {', '.join(CONTENDERS)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the full results (per-step figures included) to this file")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS and Numba threads for every contender (0: leave the environment alone)")
    parser.add_argument("--no-retain", action="store_true",
                        help="do not keep freed memory in the process nor prefault it (see benchmarks/_env.py)")
    args = parser.parse_args()
    _env.reexec(__file__, _env.wanted_env(args.threads, not args.no_retain), sys.argv[1:])
    names = list(dict.fromkeys(args.contenders))
    ds, log2ms, n = list(args.d), list(args.log2m), args.n

    import numba

    load_start = os.getloadavg()
    t_start = time.perf_counter()
    warm_up(names, args)
    log(f"[warm-up] done in {time.perf_counter() - t_start:.1f} s")

    results = {}  # (d, log2m) -> name -> result
    problems = {}
    skips = []
    for d in ds:
        for log2m in log2ms:
            m = 2**log2m
            tag = f"[d={d} 2^{log2m}]"
            results[d, log2m] = row = {}
            have = _env.usable_memory()
            needs = {nm: need_bytes(nm, n, d, m) for nm in names}
            if problem_bytes(n, d, m) + min(needs.values()) > have:
                msg = (f"{tag} skipped: the problem and the smallest contender need about "
                       f"{(problem_bytes(n, d, m) + min(needs.values())) / 2**30:.1f} GiB, "
                       f"{have / 2**30:.1f} GiB usable")
                log(msg)
                skips.append(msg)
                for nm in names:
                    row[nm] = summarise({"name": nm, "skipped": msg, "error": None, "steps": [], "losses": [],
                                         "init": math.nan, "probe": None})
                continue
            problem, lam = build_problem(d, log2m, n, args.seed)
            problems[d, log2m] = {"d": d, "m": m, "b": problem.b, "lambda": lam}
            log(f"{tag} m = {m}, b = {problem.b:.4f}, λ = {lam:.4e}")
            if not args.no_retain:
                t0 = time.perf_counter()
                nbytes = min(max(needs.values()), _env.usable_memory() // 2)
                _env.prefault(nbytes)
                log(f"{tag} prefaulted {nbytes / 2**30:.2f} GiB in {time.perf_counter() - t0:.1f} s (untimed)")
            for nm in names:
                have = _env.usable_memory()
                if needs[nm] > have:
                    msg = (f"{tag} {nm} skipped: needs about {needs[nm] / 2**30:.1f} GiB, "
                           f"{have / 2**30:.1f} GiB usable")
                    log(msg)
                    skips.append(msg)
                    row[nm] = summarise({"name": nm, "skipped": msg, "error": None, "steps": [], "losses": [],
                                         "init": math.nan, "probe": None})
                    continue
                row[nm] = summarise(run_contender(nm, problem, lam, args, tag=tag))
                gc.collect()
            del problem
            gc.collect()
    load_end = os.getloadavg()
    total = time.perf_counter() - t_start

    def res(d, k, nm):
        return results.get((d, k), {}).get(nm)

    def step_of(d, k, nm):
        r = res(d, k, nm)
        return r["median_step"] if r else math.nan

    def ratio_of(d, k, nm):
        return step_of(d, k, REFERENCE) / step_of(d, k, nm)

    def per_query_nodes(d, k):
        r = res(d, k, ALG2)
        if not r or "query_nodes" not in r.get("median_counters", {}):
            return math.nan
        return r["median_counters"]["query_nodes"] / n

    ms = [2**k for k in log2ms]
    cols = " | ".join(f"2^{k}" for k in log2ms)
    sep = "|" + "---|" * (len(log2ms) + 1)

    # ---------------------------------------------------------------- header
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"{numba.config.NUMBA_NUM_THREADS} numba threads, python {platform.python_version()}, "
          f"numpy {np.__version__}, numba {numba.__version__}; load average {load_start[0]:.2f} at start, "
          f"{load_end[0]:.2f} at end; whole run {total:.0f} s; freed memory "
          f"{'returned to the OS (--no-retain)' if args.no_retain else 'kept in the process + prefaulted per (d, m)'}")
    print(f"# seed 001 setting: n = {n}, d ∈ {ds}, b = sqrt(0.4 ln m), η = 1/λ_max(G_0), seed {args.seed}; "
          f"steps until loss <= {args.target:g}·loss0 or {args.max_iter} (at least {args.min_steps}); "
          f"step = median StepRecord.seconds over the steps taken")
    for msg in skips:
        print(f"# {msg}")
    print()

    # ---------------------------------------------------------------- step tables
    for d in ds:
        print(f"### d = {d}: median ms per step")
        print()
        print(f"| contender | {cols} |")
        print(sep)
        for nm in names:
            print(f"| {nm} | " + " | ".join(cell(res(d, k, nm), fmt_ms(step_of(d, k, nm))) for k in log2ms) + " |")
        print()

    # ---------------------------------------------------------------- ratios
    if REFERENCE in names:
        print("### dense gd step / contender step (× faster than dense GD per iteration)")
        print()
        print(f"| d | contender | {cols} |")
        print("|---" + sep)
        for d in ds:
            for nm in names:
                if nm == REFERENCE:
                    continue
                print(f"| {d} | {nm} | " + " | ".join(cell(res(d, k, nm), fmt_ratio(ratio_of(d, k, nm)))
                                                    for k in log2ms) + " |")
        print()

    # ---------------------------------------------------------------- per query
    if ALG2 in names:
        print("### alg2-weights-hsr per query: nodes visited and time against brute force (W0 @ x_i, threshold)")
        print()
        print("Nodes/query (run) = median over steps of query_nodes / n; the rest on the run's tree at t = 0, "
              f"best of {args.repeat} per point, median over the n points.")
        print()
        print("| d | m | tree nodes | nodes/query (run) | nodes/query (t=0) | \\|S_i\\| (t=0) | tree µs/query | "
              "brute µs/query | brute/tree | answers agree |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for d in ds:
            for k in log2ms:
                r = res(d, k, ALG2)
                pr = (r or {}).get("probe") or {}
                print(f"| {d} | 2^{k} | {pr.get('n_nodes', '—')} | {fmt_num(per_query_nodes(d, k))} | "
                      f"{fmt_num(pr.get('nodes'))} | {fmt_num(pr.get('hits'))} | {fmt_us(pr.get('tree_s'))} | "
                      f"{fmt_us(pr.get('brute_s'))} | {fmt_ratio(pr.get('ratio'))} | "
                      f"{('yes' if pr['agree'] else 'NO') if pr else '—'} |")
        print()

    # ---------------------------------------------------------------- slopes
    print(f"### log-log slope of the median step against m (2^{log2ms[0]}..2^{log2ms[-1]}; cost ∝ m^slope)")
    print()
    print("| contender | " + " | ".join(f"d = {d}" for d in ds) + " |")
    print("|---|" + "---|" * len(ds))
    slopes = {nm: {d: slope(ms, [step_of(d, k, nm) for k in log2ms]) for d in ds} for nm in names}
    for nm in names:
        print(f"| {nm} | " + " | ".join(fmt_num(slopes[nm][d], 2) for d in ds) + " |")
    print()
    exponents = {}
    if ALG2 in names:
        print("### alg2-weights-hsr nodes visited per query against m: fitted exponent vs the paper's m^{1 − 1/⌊d/2⌋}")
        print()
        print("| d | fitted, during the run | fitted, at t = 0 | paper 1 − 1/⌊d/2⌋ | nodes/query (run) at each m |")
        print("|---|---|---|---|---|")
        for d in ds:
            run_nodes = [per_query_nodes(d, k) for k in log2ms]
            t0_nodes = [((res(d, k, ALG2) or {}).get("probe") or {}).get("nodes", math.nan) for k in log2ms]
            exponents[d] = {"run": slope(ms, run_nodes), "t0": slope(ms, t0_nodes), "paper": paper_exponent(d)}
            e = exponents[d]
            print(f"| {d} | {fmt_num(e['run'], 3)} | {fmt_num(e['t0'], 3)} | {fmt_num(e['paper'], 4)} | "
                  + " / ".join(fmt_num(x) for x in run_nodes) + " |")
        print()

    # ---------------------------------------------------------------- targets
    big = log2ms[-1]
    where = f"m = 2^{big}" + ("" if big == 22 else " (the largest m of this run; the targets name 2^22)")
    print(f"### Targets at {where}")
    print()
    targets = {}

    def verdict(x, goal):
        return "MET" if fin(x) and x >= goal else "MISSED"

    if ALG2 in names and 4 in ds:
        r = res(4, big, ALG2)
        pr = (r or {}).get("probe") or {}
        x = pr.get("ratio", math.nan)
        targets["query_d4"] = {"ratio": x, "met": verdict(x, TARGET_QUERY) == "MET"}
        print(f"- (1) d = 4: brute / weights-hsr per query = {fmt_ratio(x)} (target >= {TARGET_QUERY:g}×): "
              f"{verdict(x, TARGET_QUERY)} — tree {fmt_us(pr.get('tree_s'))} µs vs brute {fmt_us(pr.get('brute_s'))} "
              f"µs; {fmt_num(pr.get('nodes'))} of {pr.get('n_nodes', '—')} nodes visited per query at t = 0, "
              f"|S_i| = {fmt_num(pr.get('hits'))} of m = {2**big}")
    else:
        print("- (1) not measured (needs d = 4 and alg2-weights-hsr)")
    for key, nm, goal, shown in (("alg3", ALG3, TARGET_ALG3, ("neurons_changed", "query_nodes", "memberships_changed")),
                                 ("active", ACTIVE, TARGET_ACTIVE, ("neurons_changed", "fire_total"))):
        label = "(2) Algorithm 3" if key == "alg3" else "(3) GD with the active set"
        if nm not in names or REFERENCE not in names:
            print(f"- {label}: not measured")
            continue
        per_d = {}
        for d in ds:
            x = ratio_of(d, big, nm)
            per_d[d] = x
            r = res(d, big, nm) or {}
            c = r.get("median_counters", {})
            ph = ", ".join(f"{p} {fmt_s(v)}" for p, v in r.get("median_phases", {}).items())
            print(f"- {label}, d = {d}: dense gd / {nm} per step = {fmt_ratio(x)} (target >= {goal:g}×): "
                  f"{verdict(x, goal)} — gd {fmt_s(step_of(d, big, REFERENCE))}, {nm} {fmt_s(step_of(d, big, nm))} "
                  f"({ph}); " + ", ".join(f"{k} {fmt_num(c.get(k, math.nan))}" for k in shown))
        targets[key] = {"ratio": {str(d): per_d[d] for d in ds},
                        "met": all(fin(x) and x >= goal for x in per_d.values())}
        print(f"- {label}, every d: {'MET' if targets[key]['met'] else 'MISSED'}")
    print()

    # ---------------------------------------------------------------- Algorithm 2 explained
    if ALG2 in names and REFERENCE in names:
        print("### Algorithm 2 (weights-hsr) against dense GD: per-phase split and counts (medians per step)")
        print()
        print("| d | m | gd step | alg2 step | gd/alg2 | query | gradient | update | query_nodes | nodes/query | "
              "tree nodes | update_nodes | rebuilds | neurons_changed | fire_total | init |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for d in ds:
            for k in log2ms:
                r = res(d, k, ALG2) or {}
                c, ph = r.get("median_counters", {}), r.get("median_phases", {})
                pr = r.get("probe") or {}
                print(f"| {d} | 2^{k} | {fmt_s(step_of(d, k, REFERENCE))} | {fmt_s(step_of(d, k, ALG2))} | "
                      f"{fmt_ratio(ratio_of(d, k, ALG2))} | {fmt_s(ph.get('query'))} | {fmt_s(ph.get('gradient'))} | "
                      f"{fmt_s(ph.get('update'))} | {fmt_num(c.get('query_nodes'))} | "
                      f"{fmt_num(per_query_nodes(d, k))} | {pr.get('n_nodes', '—')} | "
                      f"{fmt_num(c.get('update_nodes'))} | {fmt_num(c.get('rebuilds'))} | "
                      f"{fmt_num(c.get('neurons_changed'))} | {fmt_num(c.get('fire_total'))} | "
                      f"{fmt_s(r.get('init'))} |")
        print()

    # ---------------------------------------------------------------- init
    print("### init seconds (one-off preprocessing, apart from the steps)")
    print()
    print(f"| d | contender | {cols} |")
    print("|---" + sep)
    for d in ds:
        for nm in names:
            print(f"| {d} | {nm} | " + " | ".join(cell(res(d, k, nm), fmt_s((res(d, k, nm) or {}).get("init")))
                                                for k in log2ms) + " |")
    print()

    # ---------------------------------------------------------------- exactness
    agreement = {}
    if REFERENCE in names:
        print(f"### Sanity (not a test): max relative loss difference vs dense gd over the common steps "
              f"(should be <= {EXACT_TOL:g})")
        print()
        print(f"| d | contender | {cols} | max |")
        print("|---" + sep + "---|")
        for nm in names:
            if nm == REFERENCE:
                continue
            agreement[nm] = {}
            for d in ds:
                vals = [loss_agreement(res(d, k, nm), res(d, k, REFERENCE))
                        if res(d, k, nm) and res(d, k, REFERENCE) else math.nan for k in log2ms]
                agreement[nm][d] = vals
                worst = max([v for v in vals if fin(v)], default=math.nan)
                flag = "" if not fin(worst) else (" ok" if worst <= EXACT_TOL else " DISAGREES")
                print(f"| {d} | {nm} | " + " | ".join(cell(res(d, k, nm), f"{v:.1e}" if fin(v) else "—")
                                                    for k, v in zip(log2ms, vals)) + f" | {worst:.1e}{flag} |")
        print()
        print("Per contender, over the whole grid: " + "; ".join(
            f"{nm} {max([v for vals in agreement[nm].values() for v in vals if fin(v)], default=math.nan):.1e}"
            for nm in agreement))
        print()

    # ---------------------------------------------------------------- details
    print("### Per-phase medians and counter medians, per (d, m, contender)")
    print()
    print("| d | m | contender | steps | phases | counters | error |")
    print("|---|---|---|---|---|---|---|")
    for d in ds:
        for k in log2ms:
            for nm in names:
                r = res(d, k, nm)
                if r is None:
                    continue
                ph = ", ".join(f"{p} {fmt_s(v)}" for p, v in r.get("median_phases", {}).items())
                cs = ", ".join(f"{c} {v:.4g}" for c, v in r.get("median_counters", {}).items())
                err = r.get("skipped") or r.get("error") or ""
                print(f"| {d} | 2^{k} | {nm} | {len(r['steps'])} | {ph} | {cs} | {err[:120]} |")
    print()

    def key(d, k):
        return f"{d},{k}"

    payload = {"args": vars(args), "load_average": [load_start, load_end], "seconds": total,
               "problems": {key(*dk): v for dk, v in problems.items()}, "skips": skips,
               "slopes": {nm: {str(d): v for d, v in s.items()} for nm, s in slopes.items()},
               "node_exponents": {str(d): v for d, v in exponents.items()}, "targets": targets,
               "loss_agreement": {nm: {str(d): v for d, v in a.items()} for nm, a in agreement.items()},
               "results": {key(*dk): row for dk, row in results.items()}}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(payload, fh, indent=1, default=float)
    brief = {"d": ds, "log2m": log2ms, "targets": targets,
             "median_step": {str(d): {nm: [step_of(d, k, nm) for k in log2ms] for nm in names} for d in ds},
             "init": {str(d): {nm: [(res(d, k, nm) or {}).get("init") for k in log2ms] for nm in names} for d in ds},
             "ratio_vs_gd": {str(d): {nm: [ratio_of(d, k, nm) for k in log2ms] for nm in names if nm != REFERENCE}
                             for d in ds} if REFERENCE in names else {},
             "per_query": {str(d): {"nodes_run": [per_query_nodes(d, k) for k in log2ms],
                                    "brute_over_tree": [(((res(d, k, ALG2) or {}).get("probe") or {})
                                                         .get("ratio")) for k in log2ms]}
                           for d in ds} if ALG2 in names else {},
             "slopes": payload["slopes"], "node_exponents": payload["node_exponents"],
             "max_rel_loss_diff": {nm: max([v for vals in a.values() for v in vals if fin(v)], default=math.nan)
                                   for nm, a in agreement.items()},
             "seconds": total}
    print("# json: " + json.dumps(brief, default=float))


if __name__ == "__main__":
    main()
