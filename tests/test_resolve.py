"""lucid.models.resolve: one resolver for checkpoints, registered names and modules, used by every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lucid
from lucid.cli import main
from lucid.deploy import export
from lucid.models import create_model
from lucid.models.resolve import Resolved, resolve, source_task

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def checkpoint_32px(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A grey 10-class checkpoint recording a 32-pixel training run, as lucid.train writes it."""
    model = create_model("mobilenet_v3_small_minimal", num_classes=10, in_channels=1)
    extra = {
        "categories": [str(i) for i in range(10)],
        "image_size": 32,
        "in_channels": 1,
        "mean": [0.5],
        "std": [0.25],
        "resize_size": 37,
        "interpolation": "bilinear",
    }
    return lucid.save(model, tmp_path_factory.mktemp("ckpt") / "run32.safetensors", extra=extra)


def test_a_checkpoint_resolves_with_its_recorded_preprocessing(checkpoint_32px: Path) -> None:
    resolved = resolve(checkpoint_32px)
    assert isinstance(resolved, Resolved) and resolved.task == "classify"
    assert not resolved.model.training
    assert resolved.label == str(checkpoint_32px) and resolved.path == checkpoint_32px
    assert resolved.preprocessing.image_size == (32, 32) and resolved.preprocessing.in_channels == 1
    assert resolved.preprocessing.mean == (0.5,) and resolved.preprocessing.resize_size == 37
    assert resolved.classes == [str(i) for i in range(10)]


def test_summary_and_export_agree_on_a_32_pixel_checkpoint(
    checkpoint_32px: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["summary", str(checkpoint_32px), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["input_shapes"] == [[1, 1, 32, 32]]  # the training size, not 224
    result = export(checkpoint_32px, tmp_path / "m.onnx")
    assert result.preprocessing == resolve(checkpoint_32px).preprocessing


def test_a_registered_name_and_a_module() -> None:
    named = resolve("mobilenet_v3_small_minimal")
    assert (named.task, named.label, named.preprocessing.image_size) == (
        "classify",
        "mobilenet_v3_small_minimal",
        (224, 224),
    )
    with pytest.raises(ValueError, match="is a model name: pass --weights"):
        resolve("mobilenet_v3_small_minimal", require_weights=True)
    module = create_model("mobilenet_v3_small_minimal").train()
    given = resolve(module)
    assert given.model is module and not module.training and given.label == "model object"
    with pytest.raises(ValueError, match="weights= applies to a registered model name"):
        resolve(module, weights="DEFAULT")


def test_what_is_not_a_model_is_a_one_line_error(tmp_path: Path, checkpoint_32px: Path) -> None:
    with pytest.raises(ValueError, match="is a directory"):
        resolve(tmp_path)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        resolve(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match=r"unknown model 'mobilenet_v3_smal' \(did you mean 'mobilenet_v3_small'\?\)"):
        resolve("mobilenet_v3_smal")
    with pytest.raises(ValueError, match="applies to a registered model name"):
        resolve(checkpoint_32px, weights="DEFAULT")
    exported = tmp_path / "model.onnx"
    exported.write_bytes(b"not really")
    with pytest.raises(ValueError, match="is an exported model, not a checkpoint"):
        resolve(exported)


def test_source_task_routes_segmentation(checkpoint_32px: Path) -> None:
    assert source_task("lraspp_mobilenet_v3_large") == "segment"
    assert source_task("mobilenet_v3_small") == "classify"
    assert source_task(checkpoint_32px) == "classify"
    assert source_task(None) is None and source_task("nothing_here") is None
    assert resolve("lraspp_mobilenet_v3_small").task == "segment"


def test_a_checkpoint_trained_at_the_largest_size_resolves_with_its_resize(tmp_path: Path) -> None:
    """``--img-size 4096`` records the resize before its centre crop, round(4096 / 0.875) = 4681:
    the checkpoint loads with it; a larger recorded resize is refused naming the bound."""
    from lucid.checkpoint import CheckpointError
    from lucid.preprocessing import MAX_RESIZE_SIZE, Preprocessing, resize_size_for

    model = create_model("mobilenet_v3_small_minimal", num_classes=2)
    extra = {"categories": ["a", "b"], "image_size": 4096, "resize_size": resize_size_for(4096)}
    largest = lucid.save(model, tmp_path / "largest.safetensors", extra=extra)
    prep = resolve(largest).preprocessing
    assert prep.image_size == (4096, 4096) and prep.resize_size == MAX_RESIZE_SIZE == 4681
    assert Preprocessing.from_metadata(prep.to_metadata()) == prep  # what an export records reads back
    beyond = lucid.save(model, tmp_path / "beyond.safetensors", extra={**extra, "resize_size": 4682})
    with pytest.raises(CheckpointError, match=r"resize_size = 4682 is not an image size in 1\.\.4681"):
        resolve(beyond)
