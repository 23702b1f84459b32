"""Summary of a trace for `simulator inspect`: status, scenario, and per-metric first/last/min/max/median.

A metric with one value per row is summarised over its computed rows. A (T, k) metric (one value
per point, eigenvalue, quantile level or phase in each row) is first reduced row by row, and the
summary says how (``reduce``, ``width``, ``entries``):

* per-phase metrics (``phase_seconds``, ``phase_flops``): the row's **sum**, the whole step's
  timed phases together; every statistic is of that sum, and ``columns`` gives each phase alone
  (its median over the steps is the per-phase figure to read);
* the others: the row's **mean** over its k entries for first, last and median; min and max are
  over every entry (the smallest and the largest value anywhere). ``drift_quantiles`` also has
  ``columns``: each quantile level alone.
"""

import math

import numpy as np

THEORY_ATTRS = ("b", "lambda", "delta", "R0", "rho", "lambda_source")

#: what the k entries of a row of a (T, k) metric are (for the wording); others are "entries"
ENTRIES = {"fire_count": "points", "flips": "points", "eigvals": "eigenvalues",
           "drift_quantiles": "quantile levels", "phase_seconds": "phases", "phase_flops": "phases"}
#: (T, k) metrics whose entries add up to the row's quantity (the phases of one step)
SUMMED = frozenset({"phase_seconds", "phase_flops"})


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else None


def _stats(v):
    """first/last/min/max/median of a 1-D array of computed values (None when empty)."""
    if v.size == 0:
        return {"first": None, "last": None, "min": None, "max": None, "median": None}
    return {"first": _num(v[0]), "last": _num(v[-1]), "min": _num(v.min()), "max": _num(v.max()),
            "median": _num(np.median(v))}


def metric_summary(values, reduce="mean"):
    """first/last/min/max/median over the rows where the metric was computed (NaN rows skipped).

    A (T, k) metric is reduced per row: ``reduce="mean"``: first, last and median of the row
    mean, min and max over every entry; ``reduce="sum"``: every statistic of the row sum. Its
    summary then also holds ``width`` (k) and ``reduce``.
    """
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 0:
        a = a.reshape(1)
    rows = a.reshape(a.shape[0], -1) if a.size else a.reshape(0, 1)
    ok = np.isfinite(rows).all(axis=1)
    rows = rows[ok]
    out = {"rows": int(a.shape[0])}
    if a.ndim == 1:
        return {**out, **_stats(rows[:, 0])}
    if reduce == "sum":
        out.update(_stats(rows.sum(axis=1)))
    else:
        out.update(_stats(rows.mean(axis=1)))
        if rows.shape[0]:
            out.update(min=_num(rows.min()), max=_num(rows.max()))
    out.update(width=int(rows.shape[1]), reduce=reduce)
    return out


def _column_labels(tr, name, k):
    """Labels of the k columns of a (T, k) metric when the trace names them (phases, quantile levels)."""
    attrs = tr.metric_attrs(name)
    phases = attrs.get("phases")
    if isinstance(phases, str):
        phases = [phases]
    if phases and len(phases) == k:
        return [str(p) for p in phases]
    levels = attrs.get("quantiles")
    if isinstance(levels, (list, tuple)) and len(levels) == k:
        return [f"q{float(q):g}" + (" (max)" if float(q) == 1.0 else "") for q in levels]
    return None


def summarize(tr):
    attrs = tr.attrs
    metrics = {}
    for name in tr.names():
        values = tr[name]
        if values.dtype.kind not in "fiub":
            continue
        if values.dtype.kind in "iu":  # integer fill value for "not computed" is -1
            values = np.where(values < 0, np.nan, values.astype(np.float64))
        s = metric_summary(values, reduce="sum" if name in SUMMED else "mean")
        s["units"] = tr.units(name)
        if "width" in s:
            s["entries"] = ENTRIES.get(name, "entries")
            labels = _column_labels(tr, name, s["width"]) if np.ndim(values) == 2 else None
            if labels:
                v = np.asarray(values, dtype=np.float64)
                ok = np.isfinite(v).all(axis=1)
                s["columns"] = {label: {"rows": int(v.shape[0]), **_stats(v[ok, j])}
                                for j, label in enumerate(labels)}
        metrics[name] = s
    loss = metrics.get("loss", {}).get("last")
    return {
        "status": tr.status,
        "error": attrs.get("error", ""),
        "scenario": attrs.get("scenario_name"),
        "solver": attrs.get("solver"),
        "seed": attrs.get("seed"),
        "iterations": tr.iterations,
        "final_loss": loss,
        "theory": {k: attrs[k] for k in THEORY_ATTRS if k in attrs},
        "metrics": metrics,
    }


def format_metrics(metrics):
    """The metrics table of `simulator inspect` (text): one line per metric, indented lines per
    phase or quantile level, and a footnote saying how (T, k) metrics were reduced."""
    stats = ("first", "last", "min", "max", "median")
    lines = []
    for name, m in metrics.items():
        label = name + (f" ({m['reduce']})" if "reduce" in m else "")
        lines.append((label, m))
        for col, cm in m.get("columns", {}).items():
            lines.append(("  " + col, {**cm, "units": m["units"]}))
    w = max([18] + [len(label) for label, _ in lines])
    out = [f"{'metric':{w}s} {'units':13s} " + " ".join(f"{k:>11s}" for k in stats)]
    for label, m in lines:
        cells = [f"{m[k]:11.5g}" if m.get(k) is not None else f"{'-':>11s}" for k in stats]
        out.append(f"{label:{w}s} {m['units']:13s} " + " ".join(cells))
    reduced = [m for m in metrics.values() if "reduce" in m]
    if any(m["reduce"] == "mean" for m in reduced):
        out.append("(mean)  a row holds k values (one per point, eigenvalue or quantile level): first, last and")
        out.append("        median are of the row's mean; min and max are over every value")
    if any(m["reduce"] == "sum" for m in reduced):
        out.append("(sum)   a row holds one value per phase: every column is of the row's sum (the whole step)")
    if any("columns" in m for m in reduced):
        out.append("indented rows: one phase or quantile level alone; its median is the typical value per row")
    return "\n".join(out) + "\n"
