"""Threshold-search tree throughput against the brute-force route (and FAISS where it installs).

    python benchmarks/tree_ops.py                    # m = 2^16, 2^20, 2^22 (needs ~4 GiB)
    python benchmarks/tree_ops.py --log2m 12 16      # quicker

Setting of seed 002 (Algorithm 5): n = 16 points, d = 32, threshold b = sqrt(0.48 ln m).
All contenders run in the same process on the same W, X; the table prints ratios.

- build: the trees training uses (one GEMM, then O(m) per tree, the neurons that fire at b in the first
  leaf slots: indexes/tree.py) vs the GEMM alone; the query is also timed on trees in neuron-id order.
- query: all n fire sets {r : <w_r, x_i> > b} from the trees, against
  (a) brute force per point, W @ x_i then threshold (the route the paper replaces),
  (b) brute force batched, one GEMM W @ Xᵀ then threshold,
  (c) FAISS IndexFlatIP.range_search (if faiss-cpu imports).
- update: one neuron in all n trees (Algorithm 3) in µs; a batched update of the neurons
  that fire somewhere (K_0, ~5% of m), as a training step moves them (w_r += 0.01·N(0, I)),
  reported as tree nodes touched per changed leaf (leaf writes included).
"""

import argparse
import math
import platform
import time

import numpy as np

from simulator.tree import ThresholdTree


def best_of(fn, repeat):
    """Smallest wall time of `repeat` calls (the least disturbed one), and the last result."""
    best = math.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def brute_per_point(W, X, b):
    return [np.flatnonzero(W @ x > b) for x in X]


def brute_batched(W, X, b):
    U = X @ W.T
    return [np.flatnonzero(row > b) for row in U]


def faiss_route():
    try:
        import faiss  # noqa: F401
    except ImportError:
        return None

    def run(index, X, b):
        lims, _, labels = index.range_search(X, b)  # inner product > radius
        return [np.sort(labels[lims[i]:lims[i + 1]]) for i in range(X.shape[0])]

    return run


def bench(log2m, n, d, repeat, rng):
    m = 2**log2m
    b = math.sqrt(0.48 * math.log(m))
    W = rng.standard_normal((m, d))
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    row = {"log2m": log2m, "m": m, "b": b}

    row["gemm_s"], _ = best_of(lambda: X @ W.T, repeat)

    def training_tree():
        # the leaf order training uses (indexes/tree.py): the neurons that fire somewhere at b first
        U = X @ W.T
        fires = U.max(axis=0) > b
        return ThresholdTree.from_leaves(U, X, order=np.concatenate([np.flatnonzero(fires), np.flatnonzero(~fires)]))

    row["build_s"], tree = best_of(training_tree, repeat)
    ids_tree = ThresholdTree(W, X)  # leaves in neuron-id order, for comparison
    row["query_ids_s"], _ = best_of(lambda: ids_tree.query_all(b), repeat)
    ids_tree = None  # free its 2nM nodes before the rest

    def tree_query():
        return tree.query_all(b)

    row["query_s"], (indptr, indices) = best_of(tree_query, repeat)
    row["K_mean"] = indptr[-1] / n
    row["brute_point_s"], ref = best_of(lambda: brute_per_point(W, X, b), repeat)
    row["brute_gemm_s"], _ = best_of(lambda: brute_batched(W, X, b), repeat)
    for i in range(n):  # the contenders must agree before their times mean anything
        assert np.array_equal(indices[indptr[i]:indptr[i + 1]], ref[i])
    before = tree.nodes_touched
    tree.query_all(b)
    row["query_nodes_per_hit"] = (tree.nodes_touched - before) / max(indptr[-1], 1)

    run_faiss = faiss_route()
    if run_faiss is not None:
        import faiss

        index = faiss.IndexFlatIP(d)
        index.add(W.astype(np.float32))
        Xf = X.astype(np.float32)
        row["faiss_s"], _ = best_of(lambda: run_faiss(index, Xf, b), repeat)

    # One neuron in all n trees (Algorithm 3), through the public API.
    js = rng.integers(0, m, size=200)
    Zs = W[js] + 0.01 * rng.standard_normal((200, d))
    t0 = time.perf_counter()
    for j, z in zip(js, Zs):
        tree.update(int(j), z)
    row["update_us"] = (time.perf_counter() - t0) / 200 * 1e6

    # Batched update as a training step does it: every neuron that fires somewhere (K_0, ~5% of m) moves a little.
    idx = tree.order[:np.count_nonzero(tree.leaves_by_slot.max(axis=0) > b)]
    k = idx.size
    row["batch_k"] = k
    Z = W[idx] + 0.01 * rng.standard_normal((k, d))
    before = tree.nodes_touched
    t0 = time.perf_counter()
    tree.update_many(idx, Z)
    row["batch_s"] = time.perf_counter() - t0
    row["batch_nodes_per_leaf"] = (tree.nodes_touched - before) / (k * n)
    # The same batch with fresh values (every leaf lands anywhere): the worst case.
    Z = rng.standard_normal((k, d))
    before = tree.nodes_touched
    tree.update_many(idx, Z)
    row["batch_fresh_nodes_per_leaf"] = (tree.nodes_touched - before) / (k * n)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log2m", type=int, nargs="+", default=[16, 20, 22], help="log2 of the widths m")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats; the best is kept")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    # Compile every kernel once on a tiny problem so no row pays for Numba compilation.
    bench(6, 2, 3, 1, np.random.default_rng(0))

    import numba

    print(f"# machine: {platform.processor() or platform.machine()}, {numba.config.NUMBA_NUM_THREADS} threads, "
          f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}")
    print(f"# n = {args.n}, d = {args.d}, b = sqrt(0.48 ln m), best of {args.repeat}")
    header = ("| m | K̄ = mean fire set | build (s) | all-n query, tree (ms) | same, id order (ms) | "
              "brute W@x_i (ms) | ratio | brute GEMM (ms) | ratio | FAISS (ms) | ratio | nodes/hit | "
              "update 1 neuron (µs) | K_0 batch: neurons | (ms) | nodes/changed leaf | same, fresh values |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for log2m in args.log2m:
        r = bench(log2m, args.n, args.d, args.repeat, rng)
        q = r["query_s"]
        faiss_cols = (f"{r['faiss_s'] * 1e3:.1f} | {r['faiss_s'] / q:.1f}×" if "faiss_s" in r else "n/a | n/a")
        print(f"| 2^{log2m} | {r['K_mean']:.0f} | {r['build_s']:.3f} | {q * 1e3:.2f} | {r['query_ids_s'] * 1e3:.2f} | "
              f"{r['brute_point_s'] * 1e3:.1f} | {r['brute_point_s'] / q:.1f}× | "
              f"{r['brute_gemm_s'] * 1e3:.1f} | {r['brute_gemm_s'] / q:.1f}× | {faiss_cols} | "
              f"{r['query_nodes_per_hit']:.2f} | {r['update_us']:.1f} | {r['batch_k']} | {r['batch_s'] * 1e3:.1f} | "
              f"{r['batch_nodes_per_leaf']:.2f} | {r['batch_fresh_nodes_per_leaf']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
