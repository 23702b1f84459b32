"""engine/interrupts.py: Ctrl-C and SIGTERM stop a run even when their exception is swallowed."""

import os
import signal
import time
import weakref

import pytest

from simulator.engine import interrupts


class _Obj:
    pass


def _deliver_inside_weakref_callback(signum):
    """Send `signum` to ourselves so that Python runs its handler inside a weakref callback, where
    an exception is printed as "Exception ignored" and dropped (as h5py's object ids do)."""
    def callback(ref):
        os.kill(os.getpid(), signum)
        for _ in range(1000):  # bytecodes here: the pending handler runs (and raises) in this callback
            pass

    obj = _Obj()
    ref = weakref.ref(obj, callback)  # noqa: F841 - kept alive so the callback fires
    del obj


@pytest.fixture
def sigint_as_from_a_terminal():
    """Python's default SIGINT handler, even when pytest was started with SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowing is the point
@pytest.mark.parametrize("signum, exc", [(signal.SIGTERM, interrupts.Terminated),
                                         (signal.SIGINT, KeyboardInterrupt)])
def test_a_swallowed_interrupt_is_raised_again_by_check(signum, exc, sigint_as_from_a_terminal):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with pytest.raises(exc) as info:
        with interrupts.catching():
            _deliver_inside_weakref_callback(signum)  # the raise is lost here ...
            time.sleep(0.01)
            interrupts.check()  # ... and comes back here
            pytest.fail("check() did not raise")
    if signum == signal.SIGTERM:
        assert "SIGTERM" in str(info.value)
    assert {s: signal.getsignal(s) for s in before} == before  # restored on the way out
    interrupts.check()  # nothing pending outside the block


def test_check_is_silent_without_a_signal():
    with interrupts.catching():
        interrupts.check()


def test_an_ignored_sigint_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupts.catching():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
            interrupts.check()  # nothing was received
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
