"""Deterministic runs without torch's NaN fill of new tensors.

``lucid train`` turns on torch's deterministic algorithms but not the fill of every new tensor
with NaN that comes with them (``torch.utils.deterministic.fill_uninitialized_memory``): the fill
only changes the result of a kernel that reads memory it never wrote, and it cost a large share
of a CPU training step. These tests hold the engine to both halves of that: the flags during
and after a run, and for every task the same numbers as a run with the fill on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cli_helpers import main_within
from lucid.tasks import get_task

TIMING = ("seconds", "images_per_second", "time")


def _numbers(run: Path) -> list[dict[str, object]]:
    """Each epoch's record without its timings."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not any(t in k for t in TIMING)} for r in records]


@pytest.mark.parametrize("task", ["classify", "segment", "detect"])
def test_every_task_trains_the_same_numbers_with_and_without_the_nan_fill(task, tiny_runs, tmp_path, monkeypatch):
    cls = get_task(task)
    original = cls.train_step
    seen: list[tuple[bool, bool]] = []

    def default_run(self, net, images, targets):  # records the engine's flags
        flags = torch.utils.deterministic
        seen.append((torch.are_deterministic_algorithms_enabled(), flags.fill_uninitialized_memory))
        return original(self, net, images, targets)

    def filled_run(self, net, images, targets):  # the fill on from the first step
        torch.utils.deterministic.fill_uninitialized_memory = True
        return original(self, net, images, targets)

    flags = [*tiny_runs[task].train_flags, "--epochs", "2", "--no-progress", "--threads", "1"]
    fill_before = torch.utils.deterministic.fill_uninitialized_memory
    monkeypatch.setattr(cls, "train_step", default_run)
    assert main_within("train", *flags, "--out", tmp_path / "default") == 0
    assert seen and set(seen) == {(True, False)}  # deterministic kernels, no fill
    assert torch.utils.deterministic.fill_uninitialized_memory == fill_before  # restored after the run
    monkeypatch.setattr(cls, "train_step", filled_run)
    try:
        assert main_within("train", *flags, "--out", tmp_path / "filled") == 0
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = fill_before
    default, filled = _numbers(tmp_path / "default"), _numbers(tmp_path / "filled")
    assert len(default) == 2 and default == filled


def test_deterministic_kernels_default_to_on_for_the_cpu_and_off_on_a_gpu():
    from lucid.train import TrainConfig, resolve_deterministic

    cpu, cuda, mps = torch.device("cpu"), torch.device("cuda", 0), torch.device("mps")
    assert TrainConfig().deterministic is None
    assert [resolve_deterministic(TrainConfig(), d) for d in (cpu, cuda, mps)] == [True, False, False]
    assert resolve_deterministic(TrainConfig(deterministic=True), cuda) is True
    assert resolve_deterministic(TrainConfig(deterministic=False), cpu) is False
    with pytest.raises(ValueError, match="deterministic must be True or False, got 'yes'"):
        TrainConfig(deterministic="yes")


def test_the_deterministic_flags_reach_the_run_and_its_training_line(tiny_runs, tmp_path, monkeypatch, capsys):
    cls = get_task("classify")
    original = cls.train_step
    seen: list[bool] = []

    def recording_run(self, net, images, targets):
        seen.append(torch.are_deterministic_algorithms_enabled())
        return original(self, net, images, targets)

    monkeypatch.setattr(cls, "train_step", recording_run)
    flags = [*tiny_runs["classify"].train_flags, "--epochs", "1", "--no-progress", "--threads", "1"]
    before = torch.are_deterministic_algorithms_enabled()
    for given, expected, words in (
        ("--no-deterministic", False, "fastest kernels"),
        ("--deterministic", True, "deterministic kernels"),
    ):
        seen.clear()
        assert main_within("train", *flags, given, "--out", tmp_path / given) == 0
        assert seen and set(seen) == {expected}
        line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("training:"))
        assert f", {words}, on cpu;" in line
        assert json.loads((tmp_path / given / "summary.json").read_text())["deterministic"] is expected
        assert torch.are_deterministic_algorithms_enabled() == before  # restored after the run
