"""Training algorithms, one module each, behind one interface (see base.py).

SOLVER_OPTIONS is the public table of every solver's options, each a
`simulator.options.Field`: the scenario loader validates `[solver]` against it
and each solver reads its options from it. A Field with `choices` accepts only
those strings; `minimum`/`maximum` bound a number (inclusive unless
`min_exclusive`/`max_exclusive`). `allow_auto` marks an option whose default
"auto" the solver derives from the problem (e.g. the step size from λ).

A Field checks one value alone. `check_options(name, n, d, m, options)` checks
what depends on the sizes or on several options (e.g. sketch_rows >= n); the
scenario loader calls it with the sizes it knows, so `simulator show` refuses
what a run would fail on. The two-layer solvers' checks are here (`SIZE_CHECKS`),
beside their tables; a solver class may add its own (`Solver.check_options`).
"""

import math

from simulator.indexes import INDEX_NAMES
from simulator.options import Field
from simulator.registry import lookup

_SKETCH = Field("str", "osnap", "sketch of J^T: osnap | countsketch | gaussian | srht",
                choices=("osnap", "countsketch", "gaussian", "srht"))
_SKETCH_ROWS = Field("int", "auto", "sketch rows s, at least n (auto: docs/theory.md §4 default from n and "
                     "eps_sketch)", minimum=1, allow_auto=True)
_SKETCH_NNZ = Field("int", 4, "nonzeros per sketch column (OSNAP), at most sketch_rows; countsketch uses 1",
                    minimum=1)
# ε in (0, 1): the default s = ((√n + 2)/(√(1+ε) − 1))² (docs/theory.md §4) needs it, and an ε-embedding
# with ε >= 1 may map a direction to zero
_EPS_SKETCH = Field("float", 0.1, "target subspace distortion ε_sketch in (0, 1) (seed 002 Def. 5.2); with "
                    "sketch_rows = auto it sets s", minimum=0.0, maximum=1.0, min_exclusive=True, max_exclusive=True)
# a relative residual of 1 is met by g = 0 (no step at all), and 0 is never reached in floating point: the
# iteration runs to its cap and PCG breaks down once the residual underflows (pᵀGp = 0)
_TOL = dict(minimum=0.0, maximum=1.0, min_exclusive=True, max_exclusive=True)
# η = 0 moves nothing
_ETA = dict(minimum=0.0, min_exclusive=True, allow_auto=True)

SOLVER_OPTIONS: dict[str, dict[str, Field]] = {
    "gd": {
        "learning_rate": Field("float", "auto", "step size η > 0 (auto: 1/λ_max(G_0), see solvers/gd.py)", **_ETA),
    },
    "gauss-newton": {},
    "bpsw": {
        "sketch": Field("str", "countsketch", "sketch of J^T: countsketch | osnap | gaussian | srht",
                        choices=("osnap", "countsketch", "gaussian", "srht")),
        "sketch_rows": _SKETCH_ROWS,
        "sketch_nnz": _SKETCH_NNZ,
        "eps_sketch": _EPS_SKETCH,
        "cg_tol": Field("float", 1e-10, "relative residual in (0, 1) at which conjugate gradient stops", **_TOL),
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
        "eps_reg": Field("float", "auto", "relative regression tolerance in (0, 1) (auto: (1/6)·sqrt(λ/n), "
                         "docs/theory.md §4)", **_TOL, allow_auto=True),
        "reg_max_iter": Field("int", 500, "cap on regression iterations", minimum=1),
        "learning_rate": Field("float", "auto", "step size η > 0 when step = gd (auto: 1/λ_max(G_0))", **_ETA),
    },
    "preprocess": {  # seed 001: gradient descent, fire sets found by an index (solvers/preprocess.py)
        "index": Field("str", "weights-hsr", "how fire sets are found: weights-hsr (Alg. 2) | data-hsr (Alg. 3) | "
                       "drift-slack (static over W0, exact) | lsh (APPROXIMATE) | active | tree | fireset",
                       choices=INDEX_NAMES),
        "learning_rate": Field("float", "auto", "step size η > 0 (auto: 1/λ_max(G_0), as solver gd)", **_ETA),
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
        "cg_tol": Field("float", 1e-10, "preconditioned: relative residual in (0, 1) at which PCG stops", **_TOL),
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


# -- checks of options against the sizes (n points, d inputs, m neurons) -------------------------------

#: the paper's iteration z ← z − M(Mz − Rᵀy), M = RᵀGR, converges iff every eigenvalue of M is below √2; an
#: ε-embedding puts them in [1/(1+ε), 1/(1−ε)] (docs/theory.md §4), so ε must stay below 1 − 1/√2
PAPER_EPS_MAX = 1.0 - 1.0 / math.sqrt(2.0)

#: OSNAP/CountSketch pick a row inside a block from 32 hash bits (kernels/sketch.py: s < 2^32)
HASHED_ROWS_MAX = 2**32 - 1

#: the dense reference sketches hold S (gaussian: s × m·d) or Jᵀ padded to a power of two (srht: 2^k × n)
#: explicitly; as multilayer's GAUSSIAN_MAX, they are for small sizes: at most this many entries (2 GiB)
DENSE_SKETCH_MAX = 2**28


def _sketch_options(n, d, m, o, paper):
    """A sketched Gauss-Newton step (seed 002 Alg. 5, seed 003): B = S·Jᵀ is s × n and R = R_B⁻¹ must exist."""
    kind, rows, eps = o["sketch"], o["sketch_rows"], o["eps_sketch"]
    nnz = 1 if kind == "countsketch" else o["sketch_nnz"]
    hashed = kind in ("osnap", "countsketch")
    if rows == "auto":
        if paper and eps >= PAPER_EPS_MAX:
            raise ValueError(f"solver.eps_sketch: {eps:g} is too coarse for regression = paper: its iteration converges "
                             f"only when the sketch's distortion ε < 1 − 1/√2 ≈ {PAPER_EPS_MAX:.3f} (the eigenvalues "
                             f"of RᵀGR, up to 1/(1−ε), must stay below √2); lower it or use regression = pcg")
        from simulator.kernels.sketch import default_sketch_rows

        # docs/theory.md §4: s = ((√n + 2)/(√(1+ε) − 1))², which grows as 4n/ε²; n unknown yet: its least, 2
        if math.sqrt(1.0 + eps) - 1.0 <= 0.0:
            raise ValueError(f"solver.eps_sketch: {eps:g} is too small for the default sketch size (√(1+ε) − 1 "
                             f"rounds to 0, s would be infinite); raise it or give sketch_rows")
        s = default_sketch_rows(n or 2, eps=eps, nnz=1)
        where = f"n = {n}" if n else "n >= 2"
        if hashed and s > HASHED_ROWS_MAX:
            raise ValueError(f"solver.eps_sketch: {eps:g} with {where} makes sketch_rows = auto give s = {s} rows, "
                             f"more than the 2^32 - 1 the {kind} hash can address; raise eps_sketch, lower data.n "
                             f"or give sketch_rows")
        if kind == "osnap" and nnz > s:  # auto rounds s up to a multiple of nnz: s would be nnz, set by this option
            raise ValueError(f"solver.sketch_nnz: {nnz} nonzeros per column exceed the s = {s} rows sketch_rows = "
                             f"auto gives ({where}, eps_sketch = {eps:g}); give at most {s}")
        _dense_sketch(n, d, m, kind, s if n else None)
        return  # the default s is >= n (docs/theory.md §4)
    s = int(rows)
    if s < max(n, 2):
        known = f"the n = {n} columns of Jᵀ" if n else "the n columns of Jᵀ (n >= 2, from the data file)"
        raise ValueError(f"solver.sketch_rows: s = {s} rows cannot sketch {known}: B = S·Jᵀ is s × n and "
                         f"the QR preconditioner R_B⁻¹ needs s >= n (else it is singular); give at least "
                         f"{max(n, 2)}, or \"auto\"")
    if paper:
        # the singular values of S·U stray from 1 by about √(n/s) (Davidson-Szarek, docs/theory.md §4); the
        # iteration diverges once that passes √(1 + PAPER_EPS_MAX) − 1, i.e. below s = n/(√(1+ε_max) − 1)²
        # (measured: quickstart diverges at s = 512 < 852 and converges at 1024)
        least = math.ceil((n or 2) / (math.sqrt(1.0 + PAPER_EPS_MAX) - 1.0) ** 2)
        if s < least:
            raise ValueError(f"solver.sketch_rows: s = {s} rows are too few for regression = paper: its iteration "
                             f"diverges unless the sketch's distortion stays below 1 − 1/√2 ≈ {PAPER_EPS_MAX:.3f}, "
                             f"which takes about n/(√(1+ε) − 1)² = {least} rows ({'n = ' + str(n) if n else 'n >= 2'})"
                             f"; give at least {least}, \"auto\", or use regression = pcg")
    if kind == "osnap" and nnz > s:
        raise ValueError(f"solver.sketch_nnz: {nnz} nonzeros per column need at least as many rows, but "
                         f"sketch_rows = {s}; give at most {s} (or raise sketch_rows)")
    if hashed and s > HASHED_ROWS_MAX:
        raise ValueError(f"solver.sketch_rows: s = {s} exceeds 2^32 - 1, the most rows the {kind} hash can address "
                         f"(kernels/sketch.py); use \"auto\" or fewer rows")
    _dense_sketch(n, d, m, kind, s)


def _dense_sketch(n, d, m, kind, s):
    """The dense reference sketches (regression.sketch_jacobian) are for small sizes: refuse what they would
    hold beyond DENSE_SKETCH_MAX entries (s None: not known yet)."""
    if kind == "gaussian" and s is not None and d and s * m * d > DENSE_SKETCH_MAX:
        raise ValueError(f"solver.sketch: gaussian is the dense reference, S is s × m·d: s·m·d = {s}·{m}·{d} exceeds "
                         f"{DENSE_SKETCH_MAX} entries; use osnap or countsketch (or fewer rows, a smaller m)")
    if kind == "srht" and n and d:
        padded = 1 << max(m * d - 1, 1).bit_length()  # Jᵀ (m·d × n) padded to a power of two, transformed
        if padded * n > DENSE_SKETCH_MAX:
            raise ValueError(f"solver.sketch: srht is a dense reference on Jᵀ padded to {padded} × n: {padded}·{n} "
                             f"exceeds {DENSE_SKETCH_MAX} entries; use osnap or countsketch")


def _check_bpsw(n, d, m, o):
    _sketch_options(n, d, m, o, paper=False)


def _check_sublinear(n, d, m, o):
    if o["step"] == "gauss-newton" and o["regression"] in ("paper", "pcg"):  # the sketched direction
        _sketch_options(n, d, m, o, paper=o["regression"] == "paper")


#: solver name -> its size checks (n, d, m, full options); the memory a size needs is the runner's guard
SIZE_CHECKS = {"bpsw": _check_bpsw, "sublinear": _check_sublinear}


def check_options(name, n, d, m, options):
    """Raise ValueError("solver.<key>: …", one line) for options of solver ``name`` that cannot work at sizes
    n, d, m. n, d may be None or 0 when not known yet (data from a file): the checks that need them are left
    to a later call with the data's sizes. Runs SIZE_CHECKS[name], then the class's own
    ``Solver.check_options`` (imported on demand)."""
    full = {key: f.default for key, f in SOLVER_OPTIONS[name].items()} | dict(options or {})
    check = SIZE_CHECKS.get(name)
    if check is not None:
        check(n or 0, d or 0, m, full)
    get_solver(name).check_options(n or 0, d or 0, m, full)


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
