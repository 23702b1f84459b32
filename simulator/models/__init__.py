"""The models a scenario can train (`network.kind`), one module each.

A model module gives the engine: `build(scenario, X, y, rngs)` → the problem solvers start from,
`theory_constants(problem, scenario)` → the constants its paper's checks need, `trace_data`,
`initial_scales`, `memory_words(n, d, m)`, and `PAPER`, the theory module (simulator/theory) whose
checks apply to its traces. MODEL_NAMES is importable without loading any model (the scenario
loader checks `network.kind` against it); `get_model(kind)` imports the module on demand.
"""

import importlib

_MODULES = {"two-layer": "simulator.models.two_layer"}
MODEL_NAMES = tuple(_MODULES)


def get_model(kind):
    """The model module for a `network.kind`."""
    try:
        return importlib.import_module(_MODULES[kind])
    except KeyError:
        raise ValueError(f"network.kind: unknown model {kind!r} (models: {', '.join(MODEL_NAMES)})") from None
