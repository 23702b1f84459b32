"""Per-phase profile of the sublinear step beside its memory-traffic floor (issue: how close is each phase to
its limit).

    python benchmarks/phase_floor.py                 # m = 2^22, n = 16, d = 32 (needs ~3 GiB, ~1 minute)
    python benchmarks/phase_floor.py --log2m 20

For `sublinear-paper` (threshold trees, OSNAP sketch, the paper's iteration, inner-product leaf update) and
`sublinear-fast` (active set, exact Gram, d-free leaves), on the problem of benchmarks/cpi.py, one thread (the
environment of benchmarks/_env.py): the median seconds of each timed phase over --steps steps, the bytes that
phase must move at the least (below), and that volume over this machine's memory bandwidth, measured in the
same process (numpy copy of 512 MiB: bytes read + written per second, best of 5). floor = bytes / bandwidth;
measured / floor says how far a phase is from being limited by memory traffic alone. A phase far above its
floor is limited by something else — latency of dependent loads, branches, or arithmetic — and the last column
gives the operations the step counted for it (phase_flops, indexes/ops.py) for that reading; for the sketch,
whose data fit in cache, the script also measures one scatter-add into a cache-resident row and prints what its
hashed adds need at that rate. Every kernel is compiled first on a tiny problem (untimed).

Bytes each phase must move (8-byte words; k = |K|, q = Σ_i|S_i| fire pairs, n points, d dimensions, s sketch
rows, it = regression iterations, T_q / T_u = tree nodes the query / update touched, each read once; a node
written is read and written):
  sublinear-paper
    query       T_q node reads; the CSR out and its neuron-major view: 2q (slots, ids) + 3q + 3k words
    sketch      the fire pairs in (id, a_r: 2q) and B out (s·n); the QR of B reads it again (s·n)
    regression  2·it products G·v, each reading K's point lists and a_r/√m: (2k + q) words
    update      K's rows of W0 (k·d) and of C (k·n) read, the coefficients written (q), the new leaves written
                and read by the Update (2·k·n), the Update's nodes read and written (2·T_u)
  sublinear-fast
    query       nothing (the last update left f and the fire sets)
    regression  K's point lists for G (k + q words)
    update      one streaming pass over K: per neuron id, a_r/√m, row of C and n leaves read and written back
                compacted (2·(3 + n)), its point list read and written (2 per pair), its coefficient line of C
                read and written (2·8 words: one 64-byte line each way)
The floors ignore cache-line granularity (a word read costs a line when its neighbours are not needed), so they
are lower bounds on traffic, not predictions.
"""

import argparse
import dataclasses
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _env  # noqa: E402

PHASE_NAMES = ("query", "sketch", "regression", "update")


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--log2m", type=int, default=22, help="log2 of the width m (default 22)")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5, help="steps per contender (median per phase)")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def bandwidth(np, nbytes=1 << 29, reps=5):
    """Bytes read + written per second by a numpy copy of nbytes (best of reps)."""
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    best = math.inf
    for _ in range(reps):
        t = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t)
    return 2 * nbytes / best


def run(name, problem, lam, steps):

    from cpi import CONTENDERS
    from simulator.solvers import get_solver

    solver_name, options = CONTENDERS[name]
    s = get_solver(solver_name)(dataclasses.replace(problem), dict(options), lam=lam)
    rec = s.init()
    if rec.error:
        raise SystemExit(f"{name}: init: {rec.error}")
    k0 = getattr(s.index, "_k0", None)  # the tree index's |K_0|; the active index's K is K_0 before any step
    k0 = k0 if k0 is not None else len(getattr(s.index, "K", ()))
    rows = []
    for _ in range(steps):
        rec = s.step()
        if rec.error:
            raise SystemExit(f"{name}: step: {rec.error}")
        rows.append((dict(rec.phase_seconds), {k: dict(v) for k, v in s.op_terms.items()},
                     {k: v for k, v in rec.counters.items() if isinstance(v, (int, float))}))
    info = {"k0": k0, "s": s.info.get("sketch_rows")}
    return rows, info


def scatter_add_seconds(np, size=15112, count=1 << 24):
    """Seconds per scatter-add b[row] += v into a cache-resident row of `size` doubles, rows precomputed
    (the sketch's inner operation without its hashing), best of 3."""
    from numba import njit

    @njit(cache=False)
    def scatter(b, rows, v):
        for j in range(rows.shape[0]):
            b[rows[j]] += v[j & 127]

    rng = np.random.default_rng(0)
    rows = np.tile(rng.integers(0, size, 1 << 12).astype(np.int64), count >> 12)
    b, v = np.zeros(size), rng.standard_normal(128)
    scatter(b, rows[:16], v)
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        scatter(b, rows, v)
        best = min(best, time.perf_counter() - t)
    return best / rows.size


def paper_words(c, terms, n, d, s):
    k, q, it = c["neurons_changed"], c["fire_total"], c.get("reg_iterations", 0)
    return {"query": terms["query"].get("tree_nodes", 0) + 5 * q + 3 * k,
            "sketch": 2 * q + 2 * s * n,
            "regression": 2 * it * (2 * k + q),
            "update": k * d + k * n + q + 2 * k * n + 2 * terms["update"].get("tree_nodes", 0)}


def fast_words(c, terms, n, d, s):
    k, q = c["neurons_changed"], c["fire_total"]
    return {"query": 0, "regression": k + q, "update": k * (2 * (3 + n) + 16) + 2 * q}


def main(argv):
    args = parse(argv)
    _env.reexec(__file__, _env.wanted_env(1, True), argv)
    import numpy as np

    from cpi import build_problem, warm_up

    from simulator.indexes import ops

    bw = bandwidth(np)
    sa = scatter_add_seconds(np)
    print(f"# memory bandwidth (numpy copy, read + write): {bw / 1e9:.2f} GB/s; a scatter-add into a cache-resident "
          f"row: {sa * 1e9:.2f} ns; load average {os.getloadavg()[0]:.2f}", flush=True)
    warm_up(["sublinear-paper", "sublinear-fast"])  # no timing includes Numba compilation
    problem, lam = build_problem(args.log2m, args.n, args.d, args.seed)
    n, d = args.n, args.d
    for name, words_of in (("sublinear-paper", paper_words), ("sublinear-fast", fast_words)):
        rows, info = run(name, problem, lam, args.steps)
        phases = [p for p in PHASE_NAMES if p in rows[0][0]]
        print(f"\n{name} at m = 2^{args.log2m} (median of {len(rows)} steps; |K_0| = {info['k0']}):\n")
        print("| phase | measured | bytes it must move | traffic floor | measured / floor | operations counted |")
        print("|---|---|---|---|---|---|")
        total = 0.0
        for ph in phases:
            sec = float(np.median([r[0][ph] for r in rows]))
            words = float(np.median([words_of(r[2], r[1], n, d, info["s"] or 0)[ph] for r in rows]))
            opn = float(np.median([ops.total(r[1].get(ph, {})) for r in rows]))
            floor = 8 * words / bw
            total += sec
            ratio = f"{sec / floor:.0f}×" if floor > 0 else "—"
            print(f"| {ph} | {sec * 1e3:.1f} ms | {8 * words / 1e6:.1f} MB | {floor * 1e3:.2f} ms | {ratio} | "
                  f"{opn / 1e6:.1f} M |")
        print(f"| step | {total * 1e3:.1f} ms | | | | |")
        hashed = [r[1].get("sketch", {}).get("sketch_hashed", 0) for r in rows]
        if any(hashed):
            adds = float(np.median(hashed))
            print(f"\nThe sketch is bound by arithmetic, not traffic: {adds / 1e6:.1f} M hashed scatter-adds, which at "
                  f"{sa * 1e9:.2f} ns per scatter-add alone (no hashing) need {adds * sa * 1e3:.1f} ms.")
    print(f"\n# load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
