"""Training algorithms, one module each, behind one interface (see base.py).

SOLVER_OPTIONS is the public table of every solver's options: the scenario
loader validates `[solver]` against it and each solver reads its options from
it. An Option with `choices` accepts only those strings; `minimum` bounds a
number from below (inclusive). `auto` marks a default that the solver derives
from the problem (e.g. the step size from λ).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    default: object
    type: type
    help: str
    choices: tuple = ()
    minimum: float | None = None
    allow_auto: bool = False  # the string "auto" is accepted as well as `type`


_SKETCH = Option("osnap", str, "sketch of J^T: osnap | countsketch | gaussian | srht",
                 choices=("osnap", "countsketch", "gaussian", "srht"))
_SKETCH_ROWS = Option("auto", int, "sketch rows s (auto: SPEC §4 default from n and eps_sketch)",
                      minimum=1, allow_auto=True)
_SKETCH_NNZ = Option(4, int, "nonzeros per sketch column (OSNAP); countsketch uses 1", minimum=1)
_EPS_SKETCH = Option(0.1, float, "target subspace distortion ε_sketch (seed 002 Def. 5.2)", minimum=0.0)

SOLVER_OPTIONS: dict[str, dict[str, Option]] = {
    "gd": {
        "learning_rate": Option("auto", float, "step size η (auto: 1/λ_max(G_0), see solvers/gd.py)",
                                minimum=0.0, allow_auto=True),
    },
    "gauss-newton": {},
    "bpsw": {
        "sketch": Option("countsketch", str, "sketch of J^T: countsketch | osnap | gaussian | srht",
                         choices=("osnap", "countsketch", "gaussian", "srht")),
        "sketch_rows": _SKETCH_ROWS,
        "sketch_nnz": _SKETCH_NNZ,
        "eps_sketch": _EPS_SKETCH,
        "cg_tol": Option(1e-10, float, "relative residual at which conjugate gradient stops", minimum=0.0),
        "cg_max_iter": Option(200, int, "cap on conjugate-gradient iterations", minimum=1),
    },
    "sublinear": {
        "regression": Option("paper", str, "paper (Alg. 5 iteration) | pcg | exact-gram",
                             choices=("paper", "pcg", "exact-gram")),
        "index": Option("tree", str, "how fire sets are found: tree (Alg. 2-4) | fireset (SPEC §6) | "
                        "active (K_t's own leaves; K_{t+1} ⊆ K_t, see solvers/sublinear.py)",
                        choices=("tree", "fireset", "active")),
        "leaf_update": Option("inner-product", str, "inner-product (O(nd) per neuron) | gram (d-free, SPEC §6)",
                              choices=("inner-product", "gram")),
        "sketch": _SKETCH,
        "sketch_rows": _SKETCH_ROWS,
        "sketch_nnz": _SKETCH_NNZ,
        "eps_sketch": _EPS_SKETCH,
        "eps_reg": Option("auto", float, "relative regression tolerance (auto: (1/6)·sqrt(λ/n), SPEC §4)",
                          minimum=0.0, allow_auto=True),
        "reg_max_iter": Option(500, int, "cap on regression iterations", minimum=1),
    },
}


def solver_names():
    return tuple(SOLVER_OPTIONS)


def get_solver(name):
    """The solver class for a name of SOLVER_OPTIONS (imported on demand)."""
    if name == "gd":
        from simulator.solvers.gd import GradientDescent as cls
    elif name == "gauss-newton":
        from simulator.solvers.gauss_newton import GaussNewton as cls
    elif name == "bpsw":
        from simulator.solvers.bpsw import BPSW as cls
    elif name == "sublinear":
        from simulator.solvers.sublinear import Sublinear as cls
    else:
        raise ValueError(f"solver.name: unknown solver {name!r} (solvers: {', '.join(SOLVER_OPTIONS)})")
    return cls
