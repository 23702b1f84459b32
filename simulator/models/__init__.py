"""The models a scenario can train (`network.kind`), one module each.

MODEL_NAMES is importable without loading any model (the scenario loader checks `network.kind`
against it); `get_model(kind)` imports the model's module on demand.
"""

MODEL_NAMES = ("two-layer",)
