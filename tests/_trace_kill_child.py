"""Helper for tests/test_trace.py: writes a trace, printing a line after each commit.

usage: python _trace_kill_child.py PATH N_ITER SLEEP_SECONDS
Lines: created, attrs, data, "flushed t" (after append of state row t returned),
finishing, finished. Its structural changes are grouped by `batch()` as the runner groups them.  The parent SIGKILLs it at random moments.
"""
import sys, time
import numpy as np
from simulator.engine.trace import TraceWriter
path, n_iter, sleep = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
n = 16
def say(s):
    sys.stdout.write(s + "\n"); sys.stdout.flush()
def state(t):
    d = {"loss": 1.0 / (t + 1), "residual_norm": np.sqrt(2.0 / (t + 1)),
         "fire_count": np.arange(n, dtype=np.int64) + t,
         "drift_quantiles": np.full(5, 0.5 * t),
         "eigvals": (np.arange(n) + 0.25 * t) if t % 3 == 0 else None}
    if t >= 5:
        d["late_metric"] = 10.0 * t
    return d
def step(k):
    return {"step_seconds": 1e-3 * (k + 1), "phase_seconds": [k + 1.0, 2.0 * (k + 1)],
            "nodes_touched": 7 * (k + 1)}
tw = TraceWriter.create(path, attrs={"scenario_name": "kill", "seed": 1})
say("created")
with tw.batch():  # as the runner does: one structural copy for the attrs and the data
    tw.set_attrs(b=0.25, **{"lambda": 0.5}, delta=0.1, R0=2.0)
    rng = np.random.default_rng(0)
    tw.write_data(X=rng.standard_normal((n, 4)), y=np.ones(n), a=np.ones(32), W0=np.zeros((32, 4)))
    tw.describe("phase_seconds", phases=["query", "solve"])
say("attrs")
say("data")
with tw.batch():  # an append inside a batch is durable when it returns
    tw.set_attrs(scale0=3.0)
    tw.append_state(0, state(0))
    say("flushed 0")
for t in range(1, n_iter + 1):
    tw.append_iteration(t, state=state(t), step=step(t - 1))
    say(f"flushed {t}")
    if sleep:
        time.sleep(sleep)
say("finishing")
with tw.batch():
    tw.write_final({"f": np.zeros(n)})
    tw.set_attrs(held=False)
    tw.finish("completed")
say("finished")
