"""Simulator of training over-parameterized two-layer networks in sublinear time.

Seed 002 ("Training Overparametrized Neural Networks in Sublinear Time") and the
methods it is compared with. See README.md and docs/architecture.md.
"""

__version__ = "0.1.0"
