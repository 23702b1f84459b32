"""Dense exact Gauss-Newton (Cai et al. 2019; Zhang, Martens, Grosse 2019).

g = G_t⁻¹ (f_t − y), W ← W − J_tᵀ g. The dense reference every exact variant
of the sublinear method is checked against. O(mnd + mn² + n³) per step.
"""

import numpy as np

from simulator.solvers.base import check_gram, solve_spd
from simulator.solvers.dense import DenseSolver


class GaussNewton(DenseSolver):
    name = "gauss-newton"
    phases = ("gram", "solve", "update")
    exact = True

    def _step(self, record, phase):
        with phase("gram"):
            G = self._gram()
            check_gram(G, self.F.sum(axis=1))
        with phase("solve"):
            g = solve_spd(G, self.f - self.problem.y)
        with phase("update"):
            step = self._jt(g)
            self.W -= step
            self._forward()
        record.counters["neurons_changed"] = int(np.count_nonzero(np.any(step != 0, axis=1)))
