"""Running ``lucid`` commands in the test process with a deadline (importable: pytest puts
``tests/`` on ``sys.path``)."""

from __future__ import annotations

import signal

from lucid.cli import main


def main_within(*args: object, seconds: int = 120) -> int:
    """``lucid.cli.main(args)`` under a ``signal.alarm``: a hang fails the test with a
    TimeoutError naming the command instead of stalling the suite. Returns the exit status."""

    def timeout(*_: object) -> None:
        raise TimeoutError(f"lucid {' '.join(map(str, args))} did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        return main([str(a) for a in args])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
