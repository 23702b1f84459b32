"""Seed 001 Algorithm 2 (Theorem 6.1), `index = "weights-hsr"`: half-space reporting over the weights.

A dynamic structure over {w_r}: each iteration queries it with every x_i at b (S_i = {r :
<w_r, x_i> > b}, line 5), and after the step the neurons of ∪_i S_i are deleted and re-added by
neuron id with their new weights (lines 9-10). The structure is a ball tree over the weights
(simulator/balltree.py), an exact stand-in for the Agarwal–Eppstein–Matoušek structure: a node
whose ball satisfies <c, x> + ρ‖x‖ ≤ b holds no reported neuron. A moved neuron is absorbed
exactly by growing the radii on its leaf's path (centres stay), which weakens pruning; the tree
is rebuilt from the current weights when its query work has degraded past `rebuild_factor`
(BallTree.needs_rebuild). Counts nodes visited by queries, nodes changed by updates, rebuilds.
"""

from simulator.balltree import BallTree
from simulator.indexes import ops
from simulator.indexes.explicit import ExplicitWeightsIndex
from simulator.kernels import jacobian as _jac


class WeightsHSR(ExplicitWeightsIndex):
    name = "weights-hsr"
    counters = ("query_nodes", "update_nodes", "rebuilds")

    @classmethod
    def memory_words(cls, n, d, m, k=None):
        return 3 * m * d + 3 * m + n * m  # the tree's points, centres and radii (≤ 2m nodes), ids; fire sets at Init

    def build(self):
        p = self.problem
        self.tree = BallTree(p.W0, leaf_size=int(self.options["hsr_leaf_size"]))
        self.Wx = self.tree.points  # the tree's own copy of the weights, read-only view
        self._build_work = self.tree.build_work  # point reads of the builds counted so far (operation counts)
        self._after_build()

    def _csr(self, sort):
        return self.tree.query_all(self.problem.X, self.problem.b, sort=sort, trusted=True)

    def _move(self, fs, dcv):
        Z = self.Wx[fs.K] + _jac.row_deltas(fs.kptr, fs.kpts, dcv, self.problem.X)
        self.tree.update(fs.K, Z, trusted=True)  # DELETE + ADD by neuron id (lines 9-10)
        if self.tree.needs_rebuild(float(self.options["rebuild_factor"])):
            self.tree.rebuild()
        self.Wx = self.tree.points

    def work(self):
        return {"query_nodes": self.tree.nodes_visited, "update_nodes": self.tree.nodes_changed,
                "rebuilds": self.tree.rebuilds}

    def _structure_query_ops(self, fs, work):
        p = self.problem
        return {"balltree_query": ops.balltree_query(p.n, work["query_nodes"], fs.nnz, p.d)}

    def update_ops(self, k, nnz, work):
        """Moved rows W[K] + Δw_r (kd), the moves in the tree (whole leaf-to-root paths), a rebuild."""
        d = self.problem.d
        terms = super().update_ops(k, nnz, work)
        terms.update(row_add=k * d, balltree_update=ops.balltree_update(k, self.tree.depth, d))
        if work["rebuilds"]:
            terms["balltree_build"] = ops.balltree_build(self.tree.build_work - self._build_work, d)
        self._build_work = self.tree.build_work
        return terms
