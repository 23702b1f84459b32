"""Fire-set indexes, one module each, behind the interface of indexes/base.py.

`solver.index` names one of INDEX_NAMES; `get_index(name)` imports its class on demand. A new
index (e.g. a half-space-reporting structure) is one more module and one more line here.

  tree         seed 002's threshold-search trees (App. B)                    indexes/tree.py
  fireset      the direct incidence index of docs/theory.md §6                indexes/incidence.py
  active       K_t and its neurons' leaves only (K_{t+1} ⊆ K_t)               indexes/active.py
  weights-hsr  seed 001 Alg. 2: half-space reporting over the weights         indexes/weights_hsr.py
  data-hsr     seed 001 Alg. 3: half-space reporting over the data            indexes/data_hsr.py
  drift-slack  a static structure over W0 queried at b − D_t, exact filter    indexes/drift_slack.py
  lsh          APPROXIMATE: SimHash buckets (SLIDE/MONGOOSE style)            indexes/lsh.py

Every index but `lsh` is exact: its fire sets are those of thresholding X Wᵀ at b.

indexes/ops.py is not an index: it holds the one table of operation counts (docs/theory.md §10)
that the indexes, the step directions and the dense solvers read their `phase_flops` from.
"""

from simulator.registry import lookup

_CLASSES = {
    "tree": ("simulator.indexes.tree", "TreeIndex"),
    "fireset": ("simulator.indexes.incidence", "IncidenceIndex"),
    "active": ("simulator.indexes.active", "ActiveSet"),
    "weights-hsr": ("simulator.indexes.weights_hsr", "WeightsHSR"),
    "data-hsr": ("simulator.indexes.data_hsr", "DataHSR"),
    "drift-slack": ("simulator.indexes.drift_slack", "DriftSlack"),
    "lsh": ("simulator.indexes.lsh", "LSHIndex"),
}
INDEX_NAMES = tuple(_CLASSES)


def get_index(name):
    """The index class for a `solver.index` value."""
    return lookup(_CLASSES, name, "solver.index", "index")
