"""Seed 002 Algorithm 5: Gauss-Newton in time sublinear in m.

Per iteration (phases as timed):
  query       Q_i = Tree.Query(i, b) for every point (or the direct fire-set index,
              SPEC §6), K = ∪ Q_i, and f_t from fire sets and leaf values only;
  sketch      B = S (D_i ⊗ I_d) A_{*,i} column by column, A = J_tᵀ never formed,
              and R = R_B⁻¹ from the QR of B (lines 10-26);
  regression  the paper's iteration z ← z − (RᵀGR)ᵀ(RᵀGRz − Rᵀy_reg) until
              ‖G R z − y_reg‖ ≤ ε_reg ‖y_reg‖, g = R z (SPEC §4 Decisions), G applied
              through the sparse A; or PCG on the same operator; or (exact-gram)
              G from the fire-set incidence and a direct n×n solve, no sketch;
  update      W_{t+1} = W_t − J_tᵀ g_t on the neurons of K only, kept implicitly
              (W0 + coefficient rows, SPEC §6), and their leaves refreshed — by inner
              products (O(nd) per neuron) or through X Xᵀ (d-free, SPEC §6).

Options (SOLVER_OPTIONS["sublinear"]): regression = paper | pcg | exact-gram,
index = tree | fireset | active, leaf_update = inner-product | gram, and the sketch's
kind, rows and nonzeros per column.

index = active keeps no per-point structure at all. A step moves only neurons of
K_t = ∪_i S_i(t); a neuron outside K_t fires on no point and does not move, so it
fires on none at t+1 either: K_{t+1} ⊆ K_t (the active set only shrinks). The new
fire sets are therefore read off the leaves of K_t while they are being refreshed,
in the same pass, and the index is just (K, each neuron's points). Exact, like the
others; it relies on every step being of the form W − Jᵀg (true here).
"""

import math

import numpy as np

from simulator.kernels import jacobian as _jac
from simulator.model import ImplicitWeights
from simulator.solvers.base import NumericalError, Solver, check_fire_counts, check_gram, solve_spd
from simulator.solvers.regression import (paper_iteration, pcg, preconditioner, sketch_jacobian,
                                          sketch_rows)
from simulator.tree import FireSetIndex, ThresholdTree


class Sublinear(Solver):
    name = "sublinear"
    phases = ("query", "sketch", "regression", "update")
    exact = True  # up to eps_reg

    def _init(self, record):
        p = self.problem
        o = self.options
        self.info["direction"] = "exact" if o["regression"] == "exact-gram" else "sketched"
        self.W = ImplicitWeights(p.W0, p.X, p.XXt)
        # Init: one GEMM for all leaves (Alg. 2), in the layout each index stores
        self.tree = self.fireset = None
        if o["index"] == "tree":
            self.tree = ThresholdTree.from_leaves(p.X @ p.W0.T)
            self._LT = self.tree.leaves.T  # neuron-major read-only view into the trees
            record.counters["nodes_touched"] = self.tree.nodes_touched
        elif o["index"] == "fireset":
            self.fireset = FireSetIndex.from_leaves_by_neuron(p.W0 @ p.X.T, p.b)
            self._LT = self.fireset.leaves_by_neuron
        else:
            # aligned with the active set K: its neurons' points, leaves, a_r/√m and rows of the
            # implicit weights; no (m, n) leaves at all (computed block by block, then dropped)
            K, kptr, kpts, self._LK = _jac.active_from_weights(p.W0, p.X, p.b)
            self._active = (K, kptr, kpts)
            self._aK = p.a[K] / math.sqrt(p.m)
            self._rowK = np.full(K.shape[0], -1, dtype=np.int64)
            self._LT = None
            self._left = []  # (neurons, final leaves) of those that left K: they never change again
            self._next_query = None  # (f_t, fire counts) computed by the previous step's pass
        if o["index"] != "active":
            self.mark = np.full(p.m, -1, dtype=np.int64)  # scratch for by_neuron, all −1 between calls
        if o["regression"] != "exact-gram":
            self.s, self.nnz = sketch_rows(o, p.n)
            self.info.update(sketch=o["sketch"], sketch_rows=self.s, sketch_nnz=self.nnz)
        lam = self.lam
        if lam is None:  # stand-in until the caller supplies λ of the exact NTK
            lam = float(np.linalg.eigvalsh(self.gram())[0])
            self.info["lambda_source"] = "lambda_min(G_0)"
        else:
            self.info["lambda_source"] = "ntk"
        self.info["lambda_used"] = lam
        if o["eps_reg"] == "auto":
            self.eps_reg = math.sqrt(max(lam, 0.0) / p.n) / 6.0  # ε_reg = (1/6)√(λ/n), Alg. 5 line 30
        else:
            self.eps_reg = float(o["eps_reg"])
        self.info["eps_reg"] = self.eps_reg

    def fire_sets(self, sort=True):
        """S_i(t) as CSR; the step itself takes them unsorted where order does not matter."""
        if self.tree is not None:
            return self.tree.query_all(self.problem.b)  # ascending by construction
        if self.fireset is not None:
            return self.fireset.csr(sort=sort)
        return _jac.point_major(*self._active, self.problem.n)  # K ascending: ascending per point

    def _step(self, record, phase):
        p = self.problem
        o = self.options
        touched0 = self.tree.nodes_touched if self.tree is not None else 0
        with phase("query"):
            if self.fireset is None and self.tree is None:
                # the active set is already neuron-major; the point-major view only feeds a sketch
                K, kptr, kpts = self._active
                if self._next_query is not None:  # left by the previous step's pass (active_gram_step)
                    f, counts = self._next_query
                    self._next_query = None
                else:
                    f, counts = self._forward(None, None), np.bincount(kpts, minlength=p.n)
                check_fire_counts(counts)
                indptr = indices = None
                if o["regression"] != "exact-gram":
                    indptr, indices = self.fire_sets(sort=False)
            else:
                indptr, indices = self.fire_sets(sort=False)
                check_fire_counts(np.diff(indptr))
                # K = ∪ Q_i with each neuron's points (the tree's batched update wants K ascending)
                K, kptr, kpts = _jac.by_neuron(indptr, indices, self.mark, self.tree is not None)
                f = self._forward(indptr, indices)
            # a_r/√m aligned with K, for every G v and the step (the active index keeps it so)
            aK = self._aK if self.tree is None and self.fireset is None else p.a[K] / math.sqrt(p.m)
            y_reg = f - p.y
        if o["regression"] == "exact-gram":
            with phase("regression"):
                G = p.XXt * _jac.gram_counts(kptr, kpts, p.n) / p.m  # SPEC §1 identity
                check_gram(G)
                g = solve_spd(G, y_reg)
            iters, res = 1, float(np.linalg.norm(G @ g - y_reg) / max(np.linalg.norm(y_reg), 1e-300))
        else:
            with phase("sketch"):
                B = sketch_jacobian(o["sketch"], indptr, indices, p, self.s, self.nnz, p.sketch_seed + self.t)
                R = preconditioner(B)
            self.last_sketch = (B, (indptr, indices))  # for the measured distortion (metrics)

            solve = paper_iteration if o["regression"] == "paper" else pcg
            with phase("regression"):
                def matvec(v):  # G v through the sparse A = J_tᵀ, O(nnz·d)
                    return _jac.gram_matvec(kptr, kpts, aK, p.X, v)

                g, iters, res = solve(matvec, R, y_reg, self.eps_reg, o["reg_max_iter"])
            record.counters["sketch_rows"] = self.s
        if not np.isfinite(g).all():
            raise NumericalError("the regression returned non-finite g")
        nK = K.shape[0]  # read before the update: the active step compacts K's contents in place
        with phase("update"):
            if self.tree is None and self.fireset is None and o["leaf_update"] == "gram":
                # active set + d-free leaves: weights, leaves and the next fire sets in one pass
                self.W.reserve(K.shape[0])
                (K2, kptr2, kpts2, self._aK, self._rowK, self._LK, self.W.moved, left, left_leaves, f_next,
                 counts) = _jac.active_gram_step(K, kptr, kpts, self._aK, self._rowK, self._LK, g, p.XXt, p.b,
                                                 self.W.row, self.W.C, self.W.moved)
                self._active = (K2, kptr2, kpts2)
                self._next_query = (f_next, counts)
                if left.shape[0]:
                    self._left.append((left, left_leaves))
            else:
                self._update(K, kptr, kpts, aK, g)
        record.counters.update(reg_iterations=iters, reg_residual=res, neurons_changed=int(nK),
                               fire_total=int(kpts.shape[0]))
        if self.tree is not None:
            record.counters["nodes_touched"] = self.tree.nodes_touched - touched0

    def _update(self, K, kptr, kpts, aK, g):
        """W_{t+1} = W_t − J_tᵀ g_t on the neurons of K (implicitly), and their leaves refreshed."""
        p = self.problem
        dcv = _jac.step_coefficients(kptr, kpts, aK, g)
        self.W.add_step(K, kptr, kpts, dcv)
        if self.options["leaf_update"] == "gram":  # u_{r,i} += Σ_j Δc_{r,j} <x_j, x_i>: no d (SPEC §6)
            D = _jac.leaf_deltas(kptr, kpts, dcv, p.XXt)
            if self.tree is not None:
                self.tree.set_leaves(K, _jac.gather_leaves(self._LT, K) + D, trusted=True)
            else:
                self.fireset.add(K, D, trusted=True)
            return
        U_rows = self.W.rows(K) @ p.X.T  # u_{r,i} = <w_r(t+1), x_i>, O(nd) per neuron
        if self.tree is not None:
            self.tree.set_leaves(K, U_rows, trusted=True)
        elif self.fireset is not None:
            self.fireset.update(K, U_rows, trusted=True)
        else:
            K2, kptr2, kpts2, self._LK, keep, left = _jac.active_update(K, U_rows, self._LK, p.b)
            self._active = (K2, kptr2, kpts2)
            if left.shape[0]:
                self._left.append((K[left], U_rows[left]))
            self._aK = self._aK[keep]
            self._rowK = self.W.row[K2]

    # views
    def _forward(self, indptr, indices):
        """f_t from fire sets and leaves only."""
        p = self.problem
        if self.tree is None and self.fireset is None:
            _, kptr, kpts = self._active
            return _jac.forward_active(kptr, kpts, self._aK, self._LK, p.b, p.n)
        return _jac.forward(indptr, indices, self._LT, p.a, p.b)

    def predictions(self):
        return self._forward(*self.fire_sets())

    def leaves(self):
        if self.tree is not None or self.fireset is not None:
            return np.ascontiguousarray(self._LT.T)
        # active index: neurons that never fired keep <w_r(0), x_i>; the others' leaves are stored
        p = self.problem
        U = p.W0 @ p.X.T
        for r, L in self._left:
            U[r] = L
        U[self._active[0]] = self._LK
        return np.ascontiguousarray(U.T)

    def weights(self):
        return self.W.dense()

    def drift(self):
        return self.W.drift()
