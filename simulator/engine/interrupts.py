"""Ctrl-C and SIGTERM during a run or a sweep: stop cleanly, and never lose the request.

Python turns a signal into an exception at the next bytecode of the main thread, wherever that is.
When it lands in a finaliser or a weakref callback (h5py and Numba run such code as their objects
go out of scope, many times per iteration), Python prints "Exception ignored" and the interrupt is
gone, so a run would go on (seen in CI: a Ctrl-C test whose run never stopped). Here the handler both raises and remembers; the run loop calls
`check()` once per iteration, which raises again if the first one was swallowed.

When the handler runs inside compiled code's calls back into Python (Numba's dispatcher boxing a
returned tuple, say), the interrupt surfaces as `SystemError: CPUDispatcher(…) returned a result
with an exception set` instead (reproduced: 245 of 400 SIGTERMs landing in a kernel that returns
three arrays). `translated()` turns any exception raised while an interrupt is pending back into
that interrupt, so the trace says `interrupted` and the exit code is 130/143, not a failure.

SIGINT is taken over only while it has Python's default handler: a shell that starts a job in the
background without job control sets it to "ignore" on purpose, and that is respected.

An interrupt swallowed that way is not printed either (Python's "Exception ignored … KeyboardInterrupt"
with a traceback into Numba's cache loader or h5py): `catching()` drops it from `sys.unraisablehook`,
since `check()` raises it again; every other unraisable exception is printed as before.
"""

import contextlib
import signal
import sys


class Terminated(KeyboardInterrupt):
    """SIGTERM (a job scheduler or `kill`): the trace is closed as `interrupted`, like Ctrl-C."""


_pending = None  # the signal number received inside `catching()`, until it ends


def _exception(signum):
    if signum == signal.SIGINT:
        return KeyboardInterrupt()
    return Terminated(f"signal {signal.Signals(signum).name}")


def _handler(signum, frame):
    global _pending
    _pending = signum
    raise _exception(signum)


def check():
    """Raise the interrupt received inside `catching()` (again, if it was swallowed)."""
    if _pending is not None:
        raise _exception(_pending)


def pending():
    """The signal number received inside `catching()`, or None."""
    return _pending


@contextlib.contextmanager
def translated():
    """Within the block, an exception raised while an interrupt is pending becomes that interrupt
    (chained to it), so that an interrupt mangled on its way out of compiled code still reads as one."""
    try:
        yield
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        if _pending is not None:
            raise _exception(_pending) from exc
        raise


def _quiet(previous_hook):
    """An unraisable-exception hook that drops the interrupt `check()` will raise again."""
    def hook(unraisable):
        if _pending is not None and isinstance(unraisable.exc_value, KeyboardInterrupt):
            return
        previous_hook(unraisable)
    return hook


@contextlib.contextmanager
def catching():
    """Within the block SIGTERM raises Terminated and SIGINT KeyboardInterrupt, both remembered."""
    global _pending
    _pending = None
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _handler)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _handler)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _quiet(previous_hook)
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _pending = None
