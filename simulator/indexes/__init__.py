"""Fire-set indexes, one module each, behind the interface of indexes/base.py.

`solver.index` names one of INDEX_NAMES; `get_index(name)` imports its class on demand. A new
index (e.g. a half-space-reporting structure) is one more module and one more line here.

  tree      the paper's threshold-search trees (seed 002 App. B)       indexes/tree.py
  fireset   the direct incidence index of docs/theory.md §6                       indexes/incidence.py
  active    K_t and its neurons' leaves only (K_{t+1} ⊆ K_t)            indexes/active.py
"""

from simulator.registry import lookup

_CLASSES = {
    "tree": ("simulator.indexes.tree", "TreeIndex"),
    "fireset": ("simulator.indexes.incidence", "IncidenceIndex"),
    "active": ("simulator.indexes.active", "ActiveSet"),
}
INDEX_NAMES = tuple(_CLASSES)


def get_index(name):
    """The index class for a `solver.index` value."""
    return lookup(_CLASSES, name, "solver.index", "index")
