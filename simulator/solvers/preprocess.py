"""Seed 001 (Song, Yang, Zhang, "Does preprocessing help training over-parameterized neural
networks?"): gradient descent whose fire sets are found by a preprocessed structure.

W ← W − η∇L, ∇L = J_tᵀ(f_t − y), with J_t touched only through the fire sets S_i(t): the
structure finds them (the paper's half-space reporting), the forward pass and the gradient use
them only, and only the neurons of ∪_i S_i move (Algorithm 2 lines 5-10, Algorithm 3 lines 7-13).
The iterates are those of dense gradient descent (solver `gd`) for every exact index.

It is the `sublinear` solver's machinery — one fire-set index × one step direction — with the
step rule fixed to gradient descent and seed 001's indexes selectable (`solver.index`):
weights-hsr (Alg. 2), data-hsr (Alg. 3), drift-slack (a static structure, exact), lsh
(APPROXIMATE; the run records misses and its loss gap to exact GD), and seed 002's tree,
fireset and active indexes.
"""

from simulator.solvers.sublinear import Sublinear


class Preprocess(Sublinear):
    name = "preprocess"

    def step_rule(self):
        return "gd"
