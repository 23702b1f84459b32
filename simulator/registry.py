"""The one lookup behind every plug-in table (models, solvers, indexes): name → module and attribute.

A table maps the value a user types to ("package.module", "attribute" or None for the module
itself); the module is imported only when the name is looked up, so listing the names (for the
scenario loader, `--help`) loads nothing heavy.
"""

import importlib


def lookup(table, name, key, noun):
    """The object `table[name]` names; ValueError "KEY: unknown NOUN 'name' (known: …)" otherwise."""
    try:
        module, attribute = table[name]
    except (KeyError, TypeError):
        raise ValueError(f"{key}: unknown {noun} {name!r} (known: {', '.join(table)})") from None
    loaded = importlib.import_module(module)
    return loaded if attribute is None else getattr(loaded, attribute)
