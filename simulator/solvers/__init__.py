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
    # seed 004: the multilayer network, only W_L trained (solvers/multilayer.py, docs/theory.md §9)
    "multilayer": {
        "step": Field("str", "gauss-newton", "step rule: gauss-newton (g solves G g = f − y; `regression` says "
                      "how) | gd (g = η(f − y))", choices=("gauss-newton", "gd")),
        "regression": Field("str", "sketch-and-solve", "sketch-and-solve (g = (J̃J̃ᵀ)⁻¹(f − y), Alg. 1) | "
                            "preconditioned (PCG on the exact G, preconditioned by the sketch, §4) | "
                            "exact (G = (UᵀU)∘(VᵀV) solved directly)",
                            choices=("sketch-and-solve", "preconditioned", "exact")),
        "sketch": Field("str", "tensorsketch", "sketch of the rows u_i ⊗ v_i: tensorsketch | tensor-srht | "
                        "gaussian (dense reference on the explicit rows; small m only)",
                        choices=("tensorsketch", "tensor-srht", "gaussian")),
        "sketch_rows": Field("int", "auto", "sketch rows s (auto: 64 n)", minimum=1, allow_auto=True),
        "eps_sketch": Field("float", 0.5, "target distortion ε of the sketch (reported against the measured ε)",
                            minimum=0.0, maximum=1.0, min_exclusive=True, max_exclusive=True),
        "delta_form": Field("str", "factors", "how ΔW_L is kept: factors (the paper's list of low-rank "
                            "factors, folded into a dense matrix at rank_max) | pv (ΔW_L = P Vᵀ, rank ≤ n "
                            "forever) | dense (an explicit m × m matrix)", choices=("factors", "pv", "dense")),
        "rank_max": Field("int", "auto", "factors: fold the factor list into the dense matrix when its rank "
                          "reaches this (auto: ceil(m^0.32), at least n)", minimum=1, allow_auto=True),
        "forward": Field("str", "literal", "literal (Alg. 1 line 7: W_L(0)·h sparse + ΔW_L·h every iteration, "
                         "O(m·nnz(h)) per point) | cached (W_L(0)·h_{L-1} computed once, ΔW_L·h through the "
                         "factors: O(m·n) per point; beyond the paper, exact)", choices=("literal", "cached")),
        "cg_tol": Field("float", 1e-10, "preconditioned: relative residual at which PCG stops", minimum=0.0),
        "cg_max_iter": Field("int", 100, "preconditioned: cap on PCG iterations", minimum=1),
        "learning_rate": Field("float", "auto", "step size η when step = gd (auto: 1/λ_max(G_0))",
                               minimum=0.0, min_exclusive=True, allow_auto=True),
    },
    "multilayer-dense": {  # the reference: explicit W_L, dense forward and update, O(n m²) per iteration
        "step": Field("str", "gauss-newton", "gauss-newton (G g = f − y by Cholesky) | gd (g = η(f − y))",
                      choices=("gauss-newton", "gd")),
        "jacobian": Field("str", "auto", "how G is formed: explicit (J as n × m² rows, small m) | gram "
                          "((UᵀU)∘(VᵀV)) | auto (explicit while n·m² ≤ 2^24)", choices=("auto", "explicit", "gram")),
        "learning_rate": Field("float", "auto", "step size η when step = gd (auto: 1/λ_max(G_0))",
                               minimum=0.0, min_exclusive=True, allow_auto=True),
    },
}

#: the models (network.kind) each solver trains
SOLVER_MODELS = {name: ("two-layer",) for name in ("gd", "gauss-newton", "bpsw", "sublinear", "preprocess")}
SOLVER_MODELS.update({"multilayer": ("multilayer",), "multilayer-dense": ("multilayer",)})


#: solver name -> (module, class); a new solver is one module and one line here
_CLASSES = {
    "gd": ("simulator.solvers.gd", "GradientDescent"),
    "gauss-newton": ("simulator.solvers.gauss_newton", "GaussNewton"),
    "bpsw": ("simulator.solvers.bpsw", "BPSW"),
    "sublinear": ("simulator.solvers.sublinear", "Sublinear"),
    "preprocess": ("simulator.solvers.preprocess", "Preprocess"),
    "multilayer": ("simulator.solvers.multilayer", "Multilayer"),
    "multilayer-dense": ("simulator.solvers.multilayer_dense", "MultilayerDense"),
}
assert tuple(_CLASSES) == tuple(SOLVER_OPTIONS) == tuple(SOLVER_MODELS)


def solver_names():
    return tuple(SOLVER_OPTIONS)


def get_solver(name):
    """The solver class for a name of SOLVER_OPTIONS (imported on demand)."""
    return lookup(_CLASSES, name, "solver.name", "solver")
