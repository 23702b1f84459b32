"""Summary of a trace for `simulator inspect`: status, scenario, and per-metric first/last/min/max."""

import math

import numpy as np

THEORY_ATTRS = ("b", "lambda", "delta", "R0", "rho", "lambda_source")


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else None


def metric_summary(values):
    """first/last/min/max over the rows where the metric was computed (NaN rows skipped).

    Vector metrics (one value per point, quantiles, phases) are summarised by the
    row mean for first/last and over all entries for min/max.
    """
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 0:
        a = a.reshape(1)
    rows = a.reshape(a.shape[0], -1) if a.size else a.reshape(0, 1)
    ok = np.isfinite(rows).all(axis=1)
    rows = rows[ok]
    if rows.shape[0] == 0:
        return {"rows": int(a.shape[0]), "first": None, "last": None, "min": None, "max": None}
    return {"rows": int(a.shape[0]), "first": _num(rows[0].mean()), "last": _num(rows[-1].mean()),
            "min": _num(rows.min()), "max": _num(rows.max())}


def summarize(tr):
    attrs = tr.attrs
    metrics = {}
    for name in tr.names():
        values = tr[name]
        if values.dtype.kind not in "fiub":
            continue
        if values.dtype.kind in "iu":  # integer fill value for "not computed" is -1
            values = np.where(values < 0, np.nan, values.astype(np.float64))
        s = metric_summary(values)
        s["units"] = tr.units(name)
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
