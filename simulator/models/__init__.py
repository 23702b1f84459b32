"""The models a scenario can train (`network.kind`), one module each.

A model module gives the engine: `build(scenario, X, y, rngs)` → the problem solvers start from,
`theory_constants(problem, scenario)` → the constants its paper's checks need, `trace_data`,
`initial_scales`, `memory_words(n, d, m)`, and `PAPER`, the theory module (simulator/theory) whose
checks apply to its traces. MODEL_NAMES is importable without loading any model (the scenario
loader checks `network.kind` against it); `get_model(kind)` imports the module on demand.
"""

from simulator.registry import lookup

_MODULES = {"two-layer": ("simulator.models.two_layer", None),
            "multilayer": ("simulator.models.multilayer", None)}
MODEL_NAMES = tuple(_MODULES)


def get_model(kind):
    """The model module for a `network.kind`."""
    return lookup(_MODULES, kind, "network.kind", "model")
