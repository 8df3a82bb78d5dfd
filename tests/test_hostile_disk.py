"""A full disk during export: one line naming the file, the folder and the free space, the previous
model and its digest as they were, and no temporaries left behind, for ONNX and OpenVINO IR.

The full disk is simulated where the writers meet it (an ``ENOSPC`` from a Python write, the bare
stream error OpenVINO's ``save_model`` gives), so the tests need no mount; the case was checked by
hand on a 3 MB tmpfs as well.
"""

from __future__ import annotations

import errno
import shutil
from collections import namedtuple
from pathlib import Path

import pytest
import torch

from lucid.cli import main
from lucid.deploy import Predictor, export
from lucid.deploy.integrity import check_digest, digest_path
from lucid.deploy.runtime import available
from lucid.models import MobileNet_V3, MobileNetV3Config

pytestmark = pytest.mark.usefixtures("one_thread")

Usage = namedtuple("Usage", "total used free")


def _checkpoint(folder: Path, seed: int) -> Path:
    import lucid

    config = MobileNetV3Config(
        bottleneck_cfg=[(3, 16, 16, True, False, 2, 2)], last_channels=64, num_classes=4, in_channels=3
    )
    torch.manual_seed(seed)
    extra = {"categories": list("abcd"), "image_size": 32, "resize_size": 32}
    return lucid.save(MobileNet_V3(config).eval(), folder / f"tiny{seed}.safetensors", extra=extra)


def _snapshot(model: Path) -> dict[str, bytes]:
    parts = (model, model.with_suffix(".bin"), digest_path(model))
    return {part.name: part.read_bytes() for part in parts if part.is_file()}


def _no_temporaries(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def _export_fails(capsys: pytest.CaptureFixture[str], checkpoint: Path, target: Path, fmt: str) -> str:
    code = main(["export", str(checkpoint), "--format", fmt, "--out", str(target)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1, err
    return err


def test_onnx_export_onto_a_full_disk_names_it_and_keeps_the_old_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "out"
    target = export(_checkpoint(tmp_path, 0), folder / "model.onnx").path
    before = _snapshot(target)

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("lucid.deploy.integrity.publish", full)
    err = _export_fails(capsys, _checkpoint(tmp_path, 1), target, "onnx")
    assert f"cannot write {target}: no space left on the disk holding {folder} (" in err
    assert err.endswith("nothing there was replaced")
    assert _snapshot(target) == before and check_digest(target, required=True)
    _no_temporaries(folder)


@pytest.mark.skipif(not available("openvino"), reason="OpenVINO not installed")
def test_openvino_export_onto_a_full_disk_names_it_and_keeps_the_old_pair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import openvino

    folder = tmp_path / "out"
    target = export(_checkpoint(tmp_path, 0), folder / "model.xml", "openvino").path
    before = _snapshot(target)
    real_usage = shutil.disk_usage

    def stream_error(model: object, path: str, **_: object) -> None:
        Path(path).write_bytes(b"<?xml")  # a partial file, then OpenVINO's own failure
        raise RuntimeError("Exception from src/core/src/pass/serialize.cpp: basic_ios::clear: iostream error")

    def nearly_full(path: object) -> Usage:
        real = real_usage(path)
        return Usage(real.total, real.total - 4096, 4096)

    monkeypatch.setattr(openvino, "save_model", stream_error)
    monkeypatch.setattr("lucid.deploy.integrity.shutil.disk_usage", nearly_full)
    err = _export_fails(capsys, _checkpoint(tmp_path, 1), target, "openvino")
    assert f"cannot write {target}: no space left on the disk holding {folder} (4,096 bytes free, about " in err
    assert "needed); nothing there was replaced" in err and "iostream" not in err
    assert _snapshot(target) == before
    assert Predictor(target).predict(torch.zeros(3, 32, 32, dtype=torch.uint8), topk=1)  # the old pair still runs
    _no_temporaries(folder)


@pytest.mark.skipif(not available("openvino"), reason="OpenVINO not installed")
def test_an_openvino_failure_with_room_on_the_disk_is_not_called_a_full_disk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import openvino

    def stream_error(model: object, path: str, **_: object) -> None:
        raise RuntimeError("basic_ios::clear: iostream error")

    monkeypatch.setattr(openvino, "save_model", stream_error)
    err = _export_fails(capsys, _checkpoint(tmp_path, 0), tmp_path / "model.xml", "openvino")
    assert "no space" not in err and "iostream error" in err
    _no_temporaries(tmp_path)
