"""Named random streams: one master seed spawned into independent generators.

One numpy SeedSequence per run, spawned into the streams of STREAMS in a fixed order, so one seed
reproduces a run exactly and adding a stream at the end never shifts another.
"""

import numpy as np

STREAMS = ("data", "init", "sketch")


def streams(seed):
    """Named generators spawned from one master seed (order fixed by STREAMS)."""
    children = np.random.SeedSequence(int(seed)).spawn(len(STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, children)}
