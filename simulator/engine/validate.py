"""Check a trace against the theory that applies to it (``simulator.theory``).

The checks are data: ``simulator.theory.checks_for(attrs)`` picks the Check
records for the trace's model (for the two-layer network, the statements of
seed 002, docs/theory.md §2: ``simulator.theory.seed002.CHECKS``), and each record's
``evaluate`` reads the trace. A check reports `holds`, `fails` or `not
applicable`, with the measured value and the bound; per-iteration checks give
the first iteration that fails. Where a bound holds only up to a constant (O, Õ,
Ω: records of kind "order") there is no pass/fail to report: the status is
`ratio` and `measured / bound` is what to read.

Everything is read from the trace (attrs, /trace rows); nothing is rerun.
"""

from simulator import theory
from simulator.theory import FAILS, HOLDS, NA, RATIO  # noqa: F401  (re-export: the statuses)

__all__ = ["FAILS", "HOLDS", "NA", "RATIO", "outcome", "run_checks"]


def run_checks(tr):
    """Every check that applies to an open Trace; returns {check key: result dict}, in report order."""
    out = {}
    for check in theory.checks_for(tr.attrs):
        res = check.evaluate(tr)
        if res is not None:
            out[check.key] = res
    return out


def outcome(results):
    """'fails' if any check fails, else 'holds'."""
    return FAILS if any(r["status"] == FAILS for r in results.values()) else HOLDS
