"""The benchmarks' shared environment handling (imported by cpi.py, preprocess.py and multilayer.py).

Set by re-executing the benchmark script before numpy loads (all untimed, no solver code changed;
--threads 0 and --no-retain give the raw behaviour):
- Threads. On this 2-core machine shared with other processes, multi-threaded OpenBLAS turns small
  BLAS/LAPACK calls into waits for a busy core: the QR of the 15112×16 sketch took ~100 ms with 2
  threads against ~2 ms with 1 (measured), and dense GEMMs were slower too. --threads 1 (default)
  pins BLAS and Numba to one thread for every contender alike.
- Memory. The machine is a VM with free-page reporting: a few seconds after the process frees a big
  array its pages go back to the host, and the next first touch costs ~1.5-3 s per GiB (measured;
  ~0.05 s per GiB for pages the process kept). So glibc is told to keep freed memory (allocations
  served from the heap, never trimmed) and, before the contenders of each size, a ballast as large
  as their estimated peak is touched and freed (`prefault`).
"""

import ctypes
import os
import sys

RETAIN_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**40), "MALLOC_TRIM_THRESHOLD_": str(2**46)}
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def wanted_env(threads, retain):
    env = dict(RETAIN_ENV) if retain else {}
    if threads > 0:
        env.update({k: str(threads) for k in THREAD_VARS})
    return env


def reexec(script, env, argv):
    """Re-exec `script` (the caller's __file__) with `env` added unless it is already in place."""
    if all(os.environ.get(k) == v for k, v in env.items()):
        return
    os.environ.update(env)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, os.path.abspath(script)] + argv)


def prefault(nbytes):
    """Touch and free about nbytes (untimed): with RETAIN_ENV the pages stay in the process."""
    import numpy as np

    chunk = 2**27  # 1 GiB of float64 per chunk, below the mmap threshold: all from the heap
    blocks = []
    left = nbytes // 8
    while left > 0:
        blocks.append(np.ones(min(chunk, left)))
        left -= blocks[-1].size
    del blocks


def heap_free_bytes():
    """Free bytes glibc holds in this process's heap (reusable without the OS; 0 if unknown)."""
    try:
        class MallInfo2(ctypes.Structure):
            _fields_ = [(f, ctypes.c_size_t) for f in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                       "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
        fn = ctypes.CDLL("libc.so.6").mallinfo2
        fn.restype = MallInfo2
        return int(fn().fordblks)
    except (OSError, AttributeError):
        return 0


def usable_memory():
    """MemAvailable plus the freed memory this process keeps: what a contender can use."""
    from simulator.engine.runner import available_memory

    return available_memory() + heap_free_bytes()
