"""Simulator of training over-parameterized two-layer networks in sublinear time.

Seed 002 ("Training Overparametrized Neural Networks in Sublinear Time") and the
methods it is compared with. See README.md and docs/architecture.md.
"""

__version__ = "0.1.0"


def __getattr__(name):
    # Lazy, so `import simulator` (and the CLI's --help) does not load Numba and h5py.
    if name == "run":
        from simulator.engine.runner import run

        return run
    if name == "Trace":
        from simulator.engine.trace import Trace

        return Trace
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")
