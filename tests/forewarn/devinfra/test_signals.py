"""TerminationGuard: SIGTERM/SIGHUP interrupt like Ctrl-C once; later signals do not; ignored ones stay ignored."""

from __future__ import annotations

import os
import signal
import time

import pytest

from forewarn.devinfra.signals import TerminationGuard


def _deliver(sig: int) -> None:
    os.kill(os.getpid(), sig)
    time.sleep(0.05)  # the handler runs between bytecodes of the main thread


def test_first_signal_interrupts_later_ones_only_print(capfd):
    with TerminationGuard() as guard:
        with pytest.raises(KeyboardInterrupt):
            _deliver(signal.SIGTERM)
        _deliver(signal.SIGINT)  # during the cleanup: no second KeyboardInterrupt
        _deliver(signal.SIGHUP)
    assert guard.received == signal.SIGTERM
    assert capfd.readouterr().err.count("stopping…, please wait") == 2


def test_after_shutting_down_nothing_interrupts():
    with TerminationGuard() as guard:
        guard.shutting_down()
        _deliver(signal.SIGTERM)
    assert guard.received is None


def test_an_ignored_signal_stays_ignored_and_handlers_are_restored():
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with TerminationGuard():
            _deliver(signal.SIGHUP)  # as under nohup: nothing happens
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGHUP, before)
