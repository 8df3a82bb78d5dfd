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


_DRIVER = """
import json
import sys
from pathlib import Path

import lucid.train.engine as engine
from lucid.cli import main

victims = [Path(p) for p in json.loads(sys.argv[1])]
say = engine._say


def delete_after_epoch_1(ctx, message):
    say(ctx, message)
    if message.startswith("epoch   1/"):
        for victim in victims:
            victim.unlink(missing_ok=True)


engine._say = delete_after_epoch_1
sys.exit(main(sys.argv[2:]))
"""


def train_in_fresh_process(*args: object, delete_after_epoch_1: list | tuple = (), seconds: int = 300):
    """``lucid train ARGS`` in a new Python process, as a user's shell runs it; the files in
    ``delete_after_epoch_1`` are deleted once epoch 1 is reported. Returns the finished process
    (``returncode``, ``stdout``, ``stderr``).

    For trainings with loader workers: DataLoader forks them, and forking this pytest process
    after the deploy tests have started ONNX Runtime's, OpenVINO's and ExecuTorch's native
    threads aborted it ("Fatal Python error: Aborted" in a worker or in its shutdown) on CI.
    A fresh process holds none of them, as a real ``lucid train`` does not."""
    import json
    import subprocess
    import sys

    victims = json.dumps([str(p) for p in delete_after_epoch_1])
    command = [sys.executable, "-c", _DRIVER, victims, "train", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=seconds, check=False)


def trained_then_rescored(
    root: object, out: object, capsys: object, args: list[str], metric: str, images: int, evals: list[list[str]]
) -> tuple[str, dict]:
    """``lucid train --data ROOT ARGS --out OUT`` in the test process, then ``lucid eval`` of its last
    checkpoint once per entry of ``evals`` (its extra arguments, ``--data``, ``--tta`` ...): each must
    score ``images`` photos to the ``val_<metric>`` of the run's last epoch. Returns what training
    printed and its summary."""
    import json
    from pathlib import Path

    import pytest

    run = Path(str(out))
    assert main(["train", "--data", str(root), *args, "--out", str(run)]) == 0
    said = capsys.readouterr().out  # type: ignore[attr-defined]
    summary = json.loads((run / "summary.json").read_text())
    record = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    for extra in evals:
        assert main(["eval", str(run / "last.safetensors"), *extra, "--json"]) == 0
        result = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
        assert result["images"] == images and result[metric] == pytest.approx(record[f"val_{metric}"], abs=1e-9)
    return said, summary
