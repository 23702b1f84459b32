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

A trace without iterations to check -- no /trace group, no committed state row,
or no ``loss`` (which every run records at every row) -- is refused with a
TraceError: several checks read only the root attrs (Thm 2.13's bounds on λ),
so such a file would otherwise report `holds` without one row behind it.
"""

from simulator import theory
from simulator.engine.trace import TraceError
from simulator.theory import FAILS, HOLDS, NA, RATIO  # noqa: F401  (re-export: the statuses)

__all__ = ["FAILS", "HOLDS", "NA", "RATIO", "outcome", "require_rows", "run_checks"]

#: what every run records at every state row (engine/metrics.py); its absence means damage
REQUIRED_METRIC = "loss"


def require_rows(tr):
    """Raise TraceError unless ``tr`` holds iteration rows to check (a /trace group, state row 0, loss)."""
    where = f"{tr.path}: "
    error = " ".join(str(tr.attrs.get("error") or "").split())      # one line
    status = f"status {tr.status or 'unknown'}" + (f", error: {error}" if error else "")
    if not tr.has_group("trace"):
        raise TraceError(f"{where}no /trace group ({status}): not a complete trace; nothing to validate")
    if "t" not in tr:
        raise TraceError(f"{where}/trace has no scale 't' ({status}): not a complete trace; nothing to validate")
    if not tr.has_rows:
        raise TraceError(f"{where}/trace holds no committed iteration ({status}); nothing to validate")
    if REQUIRED_METRIC not in tr.names():
        raise TraceError(f"{where}/trace lacks {REQUIRED_METRIC!r}, which every run records "
                         f"({status}): not a complete trace; nothing to validate")


def run_checks(tr):
    """Every check that applies to an open Trace; returns {check key: result dict}, in report order.

    Raises TraceError (``require_rows``) for a trace with no rows to check.
    """
    require_rows(tr)
    out = {}
    for check in theory.checks_for(tr.attrs):
        res = check.evaluate(tr)
        if res is not None:
            out[check.key] = res
    return out


def outcome(results):
    """'fails' if any check fails, else 'holds'."""
    return FAILS if any(r["status"] == FAILS for r in results.values()) else HOLDS
