"""BallTree: an exact half-space reporting (HSR) structure for seed 001, as a ball tree.

Seed 001 (Song, Yang, Zhang, "Does preprocessing help training over-parameterized neural
networks?") keeps a point set P = {p_1..p_N} in R^d in an HSR structure: QUERY(x, b) returns every
i with <p_i, x> > b (strict: a point exactly at b is not reported), and points move by id. The
structure it cites (Agarwal-Eppstein-Matousek) is never implemented in practice; this is an
exact stand-in with the same interface.

>>> t = BallTree(P, leaf_size=16)   # build, O(N d log N)
>>> t.query(x, b)                   # ascending ids i with <p_i, x> > b
>>> t.query_all(Q, b)               # one query per row of Q, as CSR (indptr, indices)
>>> t.update(ids, Z)                # p_ids[q] <- Z[q]; O(d log N) per point
>>> t.needs_rebuild(2.0)            # radii grew past 2x their build-time total?
>>> t.rebuild()                     # a fresh tree over the current points

Why it is exact. Every node k has a centre c_k and a radius rho_k with ||p - c_k|| <= rho_k for
each of its points, so by Cauchy-Schwarz <p, x> <= <c_k, x> + rho_k ||x||: a node with
<c_k, x> + rho_k ||x|| <= b cannot hold a reported point and is pruned; symmetrically a node
with <c_k, x> - rho_k ||x|| > b is reported whole; the remaining leaves test each point. The
tests carry a slack covering float64 rounding, so the answer is exactly the set of i whose
computed <p_i, x> (a float64 sum over the coordinates, in order) exceeds b. A move of point i to
z leaves the centres alone and raises rho to ||z - c|| on the path from its leaf to the root
where that is larger: the inequality keeps holding, only pruning gets weaker.

Costs (D = depth = the smallest with ceil(N / 2**D) <= leaf_size, about log2(N / leaf_size)):
build O(N d D); a query O(d) per visited node plus O(d) per point tested in a leaf plus
O(K log K) to sort its K hits; a move O(d (D + 1)) (the whole leaf-to-root path). Memory: the
points twice (by id, and in tree order so that leaves are contiguous) plus O(N d / leaf_size)
for the nodes. How many nodes a query visits depends on the dimension: a node's children are
visited only when its ball straddles the hyperplane, |<c_k, x> - b| < rho_k ||x||. With points
~ N(0, I_d), unit x and b = sqrt(0.4 ln N) (about 1-2% of the points fire), leaf_size 16,
N = 2^14 .. 2^20, the measured visits per query were 175 .. 814 nodes of 2047 .. 131071 at
d = 2 (fewer nodes than hits), 822 .. 9229 at d = 4, 48-84% of the nodes at d = 8 and all of them
at d >= 16, where the tree is a brute-force scan in tree order plus the node overhead.

Rebuild rule. `degradation()` = (sum of the radii now) / (sum of the radii right after the last
build): 1.0 after a build, never decreasing between builds. The nodes a query visits depend only
on the centres and radii (not on where the points sit inside their balls), and they only grow
as radii grow, by the nodes whose balls the growth makes straddle the hyperplane. The sum is
kept in O(1) per grown radius (the update kernels return the growth), needs no queries to
calibrate and does not depend on which queries came; a measured-cost rule (nodes visited per
query against the first queries after a build) would need a baseline of queries and drift with
the query mix (b and x change as training goes). It is a conservative trigger: it is dominated
by the many small leaf radii, which grow relatively the most. Measured at N = 2^16, every point
taking 8 steps of 0.02 N(0, I_d): degradation 1.96 while visits per query grew 1.18x at d = 2,
1.05 against 1.03x at d = 4. `needs_rebuild(factor)` is `degradation() > factor`. The measured
counts since the last build are kept as well (`queries_since_build`, `visited_since_build`,
`reported_since_build`) for a caller who prefers to decide on them. When every point moves in
each step (gradient descent), note that a rebuild costs only 1.5-2.5x moving all N points
(measured at N = 2^16, d = 2..8: both read every point once per level), so rebuilding every
few steps is a fair option. Caveat:
when the point set as a whole spreads out (every point scaled by 2, say) a rebuild also has
larger radii, so the ratio overstates what a rebuild would recover.

Inputs are checked here, so the kernels can assume clean arrays: bad input raises ValueError
naming the argument, never a Numba error.
"""

import math

import numpy as np

from simulator import checks
from simulator.kernels import balltree as _bt


def _matrix(name, A, cols=None):
    return checks.matrix(name, A, cols)


def _vector(name, v, size):
    v = np.asarray(v)
    if v.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of length {size}, got shape {v.shape}")
    return _matrix(name, v.reshape(1, -1), cols=size)[0]


def _point_ids(name, ids, N):
    return checks.ids(name, ids, N, "point")


def _real(name, b):
    if isinstance(b, (bool, np.bool_, str, bytes)) or np.iscomplexobj(b):
        raise ValueError(f"{name}: expected a real number, got {b!r}")
    try:
        return float(b)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a real number, got {b!r}") from None


def _threshold(name, b):
    b = _real(name, b)
    if not math.isfinite(b):
        raise ValueError(f"{name}: threshold must be finite, got {b}")
    return b


class BallTree:
    """Ball tree over the rows of P (N, d): exact QUERY(x, b) = {i : <p_i, x> > b}, moves by id.

    Counters: `nodes_visited` (all queries), `nodes_changed` (radii grown by updates),
    `rebuilds`, `build_work` (point reads of all builds), and since the last build
    `queries_since_build`, `visited_since_build`, `reported_since_build`.
    """

    def __init__(self, P, leaf_size=16):
        if isinstance(leaf_size, (bool, np.bool_)) or not isinstance(leaf_size, (int, np.integer)) \
                or leaf_size < 1:
            raise ValueError(f"leaf_size: expected a positive integer, got {leaf_size!r}")
        P = _matrix("P", P)
        if P.shape[0] < 1 or P.shape[1] < 1:
            raise ValueError(f"P: need at least one point and one coordinate, got shape {P.shape}")
        self.leaf_size = int(leaf_size)
        self.N, self.d = P.shape
        self._P = P.copy()
        arrays, self.depth = _bt.allocate(self.N, self.d, self.leaf_size)
        (self._Pt, self._order, self._pos, self._start, self._end, self._centres, self._radii,
         self._cnorm, self._leaf_of) = arrays
        self.n_nodes = self._radii.shape[0]
        self._scratch = np.empty(self.N, dtype=np.int64)
        self.nodes_visited = 0
        self.nodes_changed = 0
        self.rebuilds = 0
        self.build_work = 0
        self._build()

    def _build(self):
        self.build_work += int(_bt.build(self._P, self._Pt, self._order, self._pos, self._start, self._end,
                                         self._centres, self._radii, self._cnorm, self._leaf_of))
        self._radius_sum0 = float(self._radii.sum())
        self._radius_sum = self._radius_sum0
        self.queries_since_build = 0
        self.visited_since_build = 0
        self.reported_since_build = 0

    def _tree(self):
        return (self._Pt, self._order, self._start, self._end, self._centres, self._radii, self._cnorm)

    # -- Query -----------------------------------------------------------------
    def query(self, x, b, sort=True):
        """Int64 ids i with <p_i, x> > b (strict), ascending unless sort=False (then in tree order:
        the half-space report is a set, and sorting K hits costs more than finding them)."""
        x = _vector("x", x, self.d)
        K, visited = _bt.query(*self._tree(), x, _threshold("b", b), self._scratch, bool(sort))
        self._count_queries(1, int(visited), int(K))
        return self._scratch[:K].copy()

    def query_all(self, Q, b, sort=True, rows=None, trusted=False):
        """QUERY(Q[r], b) for every row r of Q (nq, d) — or only for the rows `rows` of Q, in that
        order —: CSR (indptr, indices), ascending per row unless sort=False (then in tree order).

        trusted=True skips the checks for a caller that guarantees Q finite float64 (nq, d) C-ordered
        and rows distinct in-range int64 (a solver's moved neurons).
        """
        if not trusted:
            Q = _matrix("Q", Q, cols=self.d)
            if rows is not None:
                rows = _point_ids("rows", rows, Q.shape[0])
        b = _threshold("b", b)
        if rows is None:
            indptr, indices, visited = _bt.query_all(*self._tree(), Q, b, bool(sort))
        else:
            indptr, indices, visited = _bt.query_rows(*self._tree(), Q, rows, b, bool(sort))
        self._count_queries(indptr.shape[0] - 1, int(visited), int(indptr[-1]))
        return indptr, indices

    def _count_queries(self, queries, visited, reported):
        self.nodes_visited += visited
        self.queries_since_build += queries
        self.visited_since_build += visited
        self.reported_since_build += reported

    # -- Update ----------------------------------------------------------------
    def update(self, ids, Z, trusted=False):
        """Points ids[q] move to Z[q] (ids distinct; Z (len(ids), d)). A single integer id with a
        1-D z moves one point. Radii on each moved point's leaf-to-root path grow as needed.

        trusted=True skips the checks (O(k log k) for distinct ids) for a caller that guarantees
        distinct in-range int64 ids and finite float64 rows (a solver's moved neurons)."""
        if not trusted:
            if isinstance(ids, (int, np.integer)) and not isinstance(ids, (bool, np.bool_)):
                ids = [ids]
                if np.ndim(Z) == 1:
                    Z = np.asarray(Z).reshape(1, -1)
            ids = _point_ids("ids", ids, self.N)
            Z = _matrix("Z", Z, cols=self.d)
            if Z.shape[0] != ids.size:
                raise ValueError(f"Z: expected {ids.size} rows (one per id in ids), got {Z.shape[0]}")
        grown, growth = _bt.update_many(self._P, self._Pt, self._pos, self._centres, self._radii,
                                        self._leaf_of, ids, Z)
        self.nodes_changed += int(grown)
        self._radius_sum += float(growth)

    def rebuild(self):
        """A fresh tree over the current points (radii back to tight, degradation back to 1)."""
        self._build()
        self.rebuilds += 1

    # -- Rebuild rule ----------------------------------------------------------
    def degradation(self):
        """Sum of the radii now over their sum right after the last build (>= 1; 1 after a build).

        Query cost grows with it: the nodes a query visits depend only on centres and radii.
        Infinite if the build-time radii were all zero (all points equal) and some grew since.
        """
        if self._radius_sum0 > 0.0:
            return max(1.0, self._radius_sum / self._radius_sum0)
        return 1.0 if self._radius_sum <= 0.0 else math.inf

    def needs_rebuild(self, factor=2.0):
        """True when `degradation()` has passed `factor` (a finite number >= 1)."""
        factor = _real("factor", factor)
        if not math.isfinite(factor) or factor < 1:
            raise ValueError(f"factor: expected a finite number >= 1, got {factor!r}")
        return self.degradation() > factor

    # -- Views -----------------------------------------------------------------
    @staticmethod
    def _view(A):
        view = A.view()
        view.flags.writeable = False
        return view

    @property
    def points(self):
        """Read-only view of the current points (N, d)."""
        return self._view(self._P)

    @property
    def tree_points(self):
        """Read-only view of the points in tree order (N, d): row q is point order[q]."""
        return self._view(self._Pt)

    @property
    def order(self):
        """Read-only (N,): node k owns the points order[start[k]:end[k]]."""
        return self._view(self._order)

    @property
    def start(self):
        """Read-only (n_nodes,): first position of node k's range in `order` (heap: children 2k+1, 2k+2)."""
        return self._view(self._start)

    @property
    def end(self):
        """Read-only (n_nodes,): one past the last position of node k's range in `order`."""
        return self._view(self._end)

    @property
    def centres(self):
        """Read-only (n_nodes, d): c_k, the mean of node k's points at the last build."""
        return self._view(self._centres)

    @property
    def radii(self):
        """Read-only (n_nodes,): rho_k >= ||p - c_k|| for every point p of node k."""
        return self._view(self._radii)

    @property
    def leaf_of(self):
        """Read-only (N,): the leaf node holding point i (leaves are nodes 2**depth - 1 .. n_nodes - 1)."""
        return self._view(self._leaf_of)
