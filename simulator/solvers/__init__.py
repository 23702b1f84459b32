"""Training algorithms, one module each, behind one interface (see base.py).

SOLVER_OPTIONS is the public table of every solver's options, each a
`simulator.options.Field`: the scenario loader validates `[solver]` against it
and each solver reads its options from it. A Field with `choices` accepts only
those strings; `minimum` bounds a number from below (inclusive). `allow_auto`
marks an option whose default "auto" the solver derives from the problem (e.g.
the step size from λ).
"""

from simulator.indexes import INDEX_NAMES
from simulator.options import Field
from simulator.registry import lookup

_SKETCH = Field("str", "osnap", "sketch of J^T: osnap | countsketch | gaussian | srht",
                choices=("osnap", "countsketch", "gaussian", "srht"))
_SKETCH_ROWS = Field("int", "auto", "sketch rows s (auto: docs/theory.md §4 default from n and eps_sketch)",
                     minimum=1, allow_auto=True)
_SKETCH_NNZ = Field("int", 4, "nonzeros per sketch column (OSNAP); countsketch uses 1", minimum=1)
_EPS_SKETCH = Field("float", 0.1, "target subspace distortion ε_sketch (seed 002 Def. 5.2)", minimum=0.0)

SOLVER_OPTIONS: dict[str, dict[str, Field]] = {
    "gd": {
        "learning_rate": Field("float", "auto", "step size η (auto: 1/λ_max(G_0), see solvers/gd.py)",
                               minimum=0.0, allow_auto=True),
    },
    "gauss-newton": {},
    "bpsw": {
        "sketch": Field("str", "countsketch", "sketch of J^T: countsketch | osnap | gaussian | srht",
                        choices=("osnap", "countsketch", "gaussian", "srht")),
        "sketch_rows": _SKETCH_ROWS,
        "sketch_nnz": _SKETCH_NNZ,
        "eps_sketch": _EPS_SKETCH,
        "cg_tol": Field("float", 1e-10, "relative residual at which conjugate gradient stops", minimum=0.0),
        "cg_max_iter": Field("int", 200, "cap on conjugate-gradient iterations", minimum=1),
    },
    "sublinear": {
        "step": Field("str", "gauss-newton", "step rule: gauss-newton (g solves G g = f − y; "
                      "`regression` says how) | gd (gradient descent through the index: g = η(f − y))",
                      choices=("gauss-newton", "gd")),
        "regression": Field("str", "paper", "paper (Alg. 5 iteration) | pcg | exact-gram",
                            choices=("paper", "pcg", "exact-gram")),
        "index": Field("str", "tree", "how fire sets are found: tree (Alg. 2-4) | fireset (docs/theory.md §6) | "
                       "active (K_t's own leaves; K_{t+1} ⊆ K_t, see indexes/active.py)",
                       choices=("tree", "fireset", "active")),
        "leaf_update": Field("str", "inner-product", "inner-product (O(nd) per neuron) | gram (d-free, docs/theory.md §6)",
                             choices=("inner-product", "gram")),
        "sketch": _SKETCH,
        "sketch_rows": _SKETCH_ROWS,
        "sketch_nnz": _SKETCH_NNZ,
        "eps_sketch": _EPS_SKETCH,
        "eps_reg": Field("float", "auto", "relative regression tolerance (auto: (1/6)·sqrt(λ/n), docs/theory.md §4)",
                         minimum=0.0, allow_auto=True),
        "reg_max_iter": Field("int", 500, "cap on regression iterations", minimum=1),
        "learning_rate": Field("float", "auto", "step size η when step = gd (auto: 1/λ_max(G_0))",
                               minimum=0.0, allow_auto=True),
    },
    "preprocess": {  # seed 001: gradient descent, fire sets found by an index (solvers/preprocess.py)
        "index": Field("str", "weights-hsr", "how fire sets are found: weights-hsr (Alg. 2) | data-hsr (Alg. 3) | "
                       "drift-slack (static over W0, exact) | lsh (APPROXIMATE) | active | tree | fireset",
                       choices=INDEX_NAMES),
        "learning_rate": Field("float", "auto", "step size η (auto: 1/λ_max(G_0), as solver gd)", minimum=0.0,
                               allow_auto=True),
        "leaf_update": Field("str", "inner-product", "leaf refresh of the tree/fireset/active indexes: "
                             "inner-product | gram (d-free)", choices=("inner-product", "gram")),
        "hsr_leaf_size": Field("int", 16, "points per leaf of the ball trees (weights-hsr, data-hsr)", minimum=1),
        "rebuild_factor": Field("float", 2.0, "weights-hsr: rebuild the tree when its query work has grown past "
                                "this factor since the last build (balltree.needs_rebuild)", minimum=1.0),
        "lsh_tables": Field("int", 8, "lsh: number of hash tables L", minimum=1),
        "lsh_bits": Field("int", 6, "lsh: sign bits per table k", minimum=1, maximum=62),
        "rehash_every": Field("int", 5, "lsh: rebuild the tables from the current weights every this many steps "
                              "(0: never)", minimum=0),
    },
}


#: solver name -> (module, class); a new solver is one module and one line here
_CLASSES = {
    "gd": ("simulator.solvers.gd", "GradientDescent"),
    "gauss-newton": ("simulator.solvers.gauss_newton", "GaussNewton"),
    "bpsw": ("simulator.solvers.bpsw", "BPSW"),
    "sublinear": ("simulator.solvers.sublinear", "Sublinear"),
    "preprocess": ("simulator.solvers.preprocess", "Preprocess"),
}
assert tuple(_CLASSES) == tuple(SOLVER_OPTIONS)


def solver_names():
    return tuple(SOLVER_OPTIONS)


def get_solver(name):
    """The solver class for a name of SOLVER_OPTIONS (imported on demand)."""
    return lookup(_CLASSES, name, "solver.name", "solver")
