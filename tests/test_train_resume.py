"""Fault tolerance: resume after SIGKILL reproduces the uninterrupted run; NaN stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lucid.errors import RunFolderError
from lucid.models import MobileNet_V3, load_model, preset_config, register_model
from lucid.train import TrainConfig, TrainingDiverged, train
from lucid.train.state import STATE_FILE, flatten, load_state, save_state, unflatten

RUN = [
    "--epochs",
    "3",
    "--limit-train",
    "48",
    "--limit-val",
    "32",
    "--img-size",
    "16",
    "--batch-size",
    "16",
    "--ema",
    "--seed",
    "3",
    "--no-progress",
]
TIMING_KEYS = {"seconds", "train_images_per_second"}


def _lucid(*args: str) -> subprocess.Popen:
    # One thread each: the two runs go side by side on a 2-core machine.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "lucid", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _completed_epoch(folder: Path) -> int:
    try:
        return int(load_state(folder / STATE_FILE)["epoch"])
    except (FileNotFoundError, ValueError):
        return 0


def _metrics(folder: Path) -> list[dict]:
    lines = (folder / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING_KEYS} for line in lines]


@pytest.mark.slow  # ~20 s; resume's exactness stays in the default suite (test_train_resume's other runs)
def test_resume_after_sigkill_reproduces_the_uninterrupted_run(tmp_path: Path) -> None:
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    uninterrupted = _lucid("train", *RUN, "--out", str(whole))
    victim = _lucid("train", *RUN, "--out", str(killed))
    deadline = time.monotonic() + 240
    while _completed_epoch(killed) < 1 and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done = _completed_epoch(killed)
    assert 1 <= done < 3
    out, err = uninterrupted.communicate(timeout=300)
    assert uninterrupted.returncode == 0, err
    resumed = _lucid("train", "--resume", str(killed), "--no-progress")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert f"resuming after epoch {done}" in out
    assert _metrics(killed) == _metrics(whole)
    assert len(_metrics(whole)) == 3
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs"] == 3
    for name in ("best.safetensors", "last.safetensors"):
        a, b = load_model(whole / name), load_model(killed / name)
        for (key, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            assert torch.equal(x, y), f"{name}: {key} differs"


def test_resume_refuses_changed_settings_and_extends_epochs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = TrainConfig(
        epochs=1, limit_train=32, limit_val=16, img_size=16, batch_size=16, out=str(out), progress=False
    )
    train(config)
    with pytest.raises(ValueError, match="cannot change these settings when resuming.*lr=0.5"):
        train(TrainConfig(resume=str(out), lr=0.5))
    with pytest.raises(RunFolderError, match="already holds a training run"):
        train(config)
    result = train(TrainConfig(resume=str(out), epochs=2, progress=False))
    assert [r["epoch"] for r in result.history] == [1, 2] and result.out_dir == out
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        train(TrainConfig(resume=str(tmp_path / "nothing")))


class _Poisoned(MobileNet_V3):
    """Gives NaN logits from a chosen training step on: a loss that diverges, on cue."""

    calls = 0
    poison_from = 10**9
    poison_eval = False  # NaN outputs in evaluation only: the training loss stays finite

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        if self.training:
            type(self).calls += 1
            if type(self).calls >= type(self).poison_from and not type(self).poison_eval:
                return out * float("nan")
        elif type(self).poison_eval and type(self).calls >= type(self).poison_from:
            return out * float("nan")
        return out


@register_model(name="test_train_poisoned")
def _poisoned(num_classes: int = 10, in_channels: int = 1, **kwargs: object) -> MobileNet_V3:
    model = _Poisoned(preset_config("mobilenet_v3_small", num_classes=num_classes, in_channels=in_channels, **kwargs))
    model.model_name = "mobilenet_v3_small"  # its checkpoints rebuild as the plain network
    return model


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    _Poisoned.calls, _Poisoned.poison_from = 0, 16 + 2  # 16 steps per epoch: dies in epoch 2
    out = tmp_path / "run"
    config = TrainConfig(
        model="test_train_poisoned",
        epochs=3,
        limit_train=64,
        limit_val=16,
        img_size=16,
        batch_size=4,
        out=str(out),
        progress=False,
    )
    expected = r"loss became nan at epoch 2, step 2.*last good checkpoint .*last\.safetensors \(epoch 1\)"
    with pytest.raises(TrainingDiverged, match=expected):
        train(config)
    assert load_model(out / "last.safetensors").checkpoint_extra["epoch"] == 1
    assert load_state(out / STATE_FILE)["epoch"] == 1
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged" and "nan" in summary["error"]
    assert "batch 4 gives BatchNorm too few images to normalise by: pass --batch-size 8 or more" in summary["error"]


def test_nan_validation_never_becomes_a_checkpoint_and_files_stay_strict_json(tmp_path: Path) -> None:
    _Poisoned.calls, _Poisoned.poison_from, _Poisoned.poison_eval = 0, 10**9, True
    out = tmp_path / "run"
    config = TrainConfig(
        model="test_train_poisoned",
        epochs=3,
        limit_train=64,
        limit_val=16,
        img_size=16,
        batch_size=16,
        out=str(out),
        progress=False,
        ema=True,
    )
    try:
        train(config.replace(epochs=1))  # epoch 1 is healthy
        _Poisoned.poison_from = _Poisoned.calls  # from now on evaluation outputs NaN (training stays finite)
        with pytest.raises(TrainingDiverged, match=r"validation after epoch 2 gave non-finite outputs"):
            train(TrainConfig(resume=str(out), epochs=3, progress=False))
    finally:
        _Poisoned.poison_eval, _Poisoned.poison_from = False, 10**9
    last = load_model(out / "last.safetensors")
    assert last.checkpoint_extra["epoch"] == 1 and load_state(out / STATE_FILE)["epoch"] == 1
    assert all(torch.isfinite(p).all() for p in last.state_dict().values() if p.is_floating_point())

    def strict(text: str) -> object:
        return json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name} in JSON"))

    assert [strict(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1]
    summary = strict((out / "summary.json").read_text())
    assert summary["status"] == "diverged" and "epoch 2 was not saved" in summary["error"]
    assert "lower --lr or check the data" in summary["error"] and "BatchNorm" not in summary["error"]  # batch 16


def test_state_flattening_round_trips_nested_values(tmp_path: Path) -> None:
    import numpy as np

    value = {"ints": {0: torch.arange(3), 7: (1.5, None)}, "tuple": (1, [2, "x"]), "arr": np.arange(4, dtype=np.uint32)}
    tensors: dict[str, torch.Tensor] = {}
    back = unflatten(json.loads(json.dumps(flatten(value, tensors))), tensors)
    assert torch.equal(back["ints"][0], torch.arange(3)) and back["ints"][7] == (1.5, None)
    assert back["tuple"] == (1, [2, "x"]) and back["arr"].dtype == np.uint32 and back["arr"].tolist() == [0, 1, 2, 3]
    save_state(tmp_path / "s.safetensors", value)
    assert load_state(tmp_path / "s.safetensors")["tuple"] == (1, [2, "x"])
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable training state"):
        load_state(tmp_path / "bad.safetensors")
