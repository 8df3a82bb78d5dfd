"""lucid.deploy: verified ONNX/TorchScript export, int8 quantization, the Predictor, and their CLI."""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from lucid.cli import main
from lucid.deploy import Predictor, Preprocessing, VerificationError, export, quantize
from lucid.deploy.integrity import default_model_path
from lucid.deploy.quantize import default_int8_path
from lucid.errors import ExportError
from lucid.models import MobileNet_V3, MobileNetV3Config, create_model, load_model
from lucid.models.weights import convert_state_dict
from lucid.train import digits_datasets
from reference_helpers import TrainedDigits, randomise_batchnorm

DIGITS = [str(d) for d in range(10)]
SMALL_SIZE = 64  # presets work at any multiple of 32; small inputs keep export checks fast


def _torchvision_and_lucid(name: str) -> tuple[nn.Module, nn.Module]:
    """torchvision's network and lucid's holding the same (random, BN-perturbed) weights."""
    torch.manual_seed(0)
    reference = randomise_batchnorm(getattr(torchvision.models, name)(), seed=1)
    model = create_model(name)
    model.load_state_dict(convert_state_dict(reference.state_dict(), model))
    return reference, model.eval()


def _relative(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.abs(got - expected).max() / np.abs(expected).max())


def _seed_model(in_channels: int = 1) -> MobileNet_V3:
    """The documentation's two-block network: tiny, so option checks export in a moment."""
    config = MobileNetV3Config(
        bottleneck_cfg=[(3, 16, 16, True, False, 2, 2), (3, 72, 24, False, False, 2, 4)],
        last_channels=1024,
        num_classes=10,
        in_channels=in_channels,
    )
    torch.manual_seed(0)
    return randomise_batchnorm(MobileNet_V3(config), seed=2)


def _ops(path: Path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


def _props(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


# ---------------------------------------------------------------------------------------------
# the digits model trained briefly by lucid.train (tests/conftest.py), exported once
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_checkpoint(trained_digits: TrainedDigits) -> Path:
    """The suite's one briefly trained digits model (conftest's real ``lucid.train`` run)."""
    return trained_digits.checkpoint


@pytest.fixture(scope="module")
def digits_onnx(digits_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("digits_onnx") / "best.onnx"  # the shared run folder stays as trained
    result = export(digits_checkpoint, out, dynamic_batch=True)
    return result.path


@pytest.fixture(scope="module")
def digits_int8(digits_onnx: Path):
    return quantize(digits_onnx, digits_onnx.with_suffix(".int8.onnx"), "digits")


def _val_digits(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Validation images in [0, 1] (N, 1, 32, 32) and their labels."""
    _, val_ds = digits_datasets(image_size=32, seed=0)
    return val_ds.images[:count], val_ds.targets[:count]


# ---------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "mobilenet_v3_large"])
def test_onnx_export_matches_eager_and_torchvision(tmp_path: Path, name: str) -> None:
    reference, model = _torchvision_and_lucid(name)
    out = tmp_path / f"{name}.onnx"
    result = export(model, out, image_size=SMALL_SIZE)

    assert result.path == out and out.is_file()
    assert result.max_rel_diff <= 1e-4 and result.opset == 18
    graph = onnx.load(str(out)).graph
    ops = {node.op_type for node in graph.node}
    assert "BatchNormalization" not in ops
    assert {"HardSwish", "HardSigmoid", "Conv"} <= ops
    assert [i.name for i in graph.input] == ["input"] and [o.name for o in graph.output] == ["logits"]
    props = _props(out)
    assert json.loads(props["image_size"]) == [SMALL_SIZE, SMALL_SIZE]
    assert json.loads(props["mean"]) == pytest.approx([0.485, 0.456, 0.406])
    assert props["model_name"] == name
    # The caller's model keeps its BatchNorm layers: folding happens on a copy.
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())

    x = torch.randn(1, 3, SMALL_SIZE, SMALL_SIZE, generator=torch.Generator().manual_seed(5))
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(["logits"], {"input": x.numpy()})[0]
    with torch.no_grad():
        assert _relative(got, model(x).numpy()) < 1e-4
        assert _relative(got, reference(x).numpy()) < 1e-4


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "mobilenet_v3_large"])
def test_torchscript_export_matches_eager_and_torchvision(tmp_path: Path, name: str) -> None:
    reference, model = _torchvision_and_lucid(name)
    out = tmp_path / f"{name}.pt"
    result = export(model, out, "torchscript", image_size=SMALL_SIZE)

    assert result.format == "torchscript" and result.opset is None and result.max_rel_diff <= 1e-4
    extra = {"lucid.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still the format's loader
        loaded = torch.jit.load(str(out), _extra_files=extra)
    assert json.loads(extra["lucid.json"])["model_name"] == name
    assert "aten::batch_norm" not in str(loaded.graph)  # frozen: BatchNorm folded
    x = torch.randn(3, 3, SMALL_SIZE, SMALL_SIZE, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        assert _relative(loaded(x).numpy(), reference(x).numpy()) < 1e-4


def test_dynamic_batch_serves_batch_1_and_3_from_one_file(
    tmp_path: Path, digits_checkpoint: Path, digits_onnx: Path
) -> None:
    model = load_model(digits_checkpoint)
    session = ort.InferenceSession(str(digits_onnx), providers=["CPUExecutionProvider"])
    assert isinstance(session.get_inputs()[0].shape[0], str)
    for batch in (1, 3):
        x = torch.randn(batch, 1, 32, 32, generator=torch.Generator().manual_seed(batch))
        got = session.run(["logits"], {"input": x.numpy()})[0]
        with torch.no_grad():
            assert got.shape == (batch, 10) and _relative(got, model(x).numpy()) < 1e-4

    static = export(model, tmp_path / "static.onnx")
    assert static.checked_batches == (1,)
    assert ort.InferenceSession(str(static.path), providers=["CPUExecutionProvider"]).get_inputs()[0].shape == [
        1,
        1,
        32,
        32,
    ]


def test_export_records_the_training_preprocessing_and_classes(digits_checkpoint: Path, digits_onnx: Path) -> None:
    extra = load_model(digits_checkpoint).checkpoint_extra
    props = _props(digits_onnx)
    prep = Preprocessing.from_metadata(props)
    assert prep.image_size == (32, 32) and prep.in_channels == 1 and prep.resize_size == 32
    assert prep.mean == pytest.approx(extra["mean"]) and prep.std == pytest.approx(extra["std"])
    assert json.loads(props["classes"]) == DIGITS
    assert json.loads(props["train_data"])["split"]["seed"] == 0
    assert props["source"] == str(digits_checkpoint)


def test_export_a_model_name_with_torchvision_weights(tmp_path: Path) -> None:
    """A registered name plus a weights file: the weights' metadata (ImageNet classes) is recorded."""
    reference, _ = _torchvision_and_lucid("mobilenet_v3_small")
    weights = tmp_path / "tv_small.pth"
    torch.save(reference.state_dict(), weights)
    result = export("mobilenet_v3_small", tmp_path / "small.onnx", weights=str(weights), image_size=SMALL_SIZE)
    assert result.classes is not None and len(result.classes) == 1000 and result.classes[0] == "tench"
    x = torch.randn(1, 3, SMALL_SIZE, SMALL_SIZE, generator=torch.Generator().manual_seed(8))
    got = Predictor(result.path).logits(x)
    with torch.no_grad():
        assert _relative(got, reference(x).numpy()) < 1e-4
    with pytest.raises(ValueError, match="weights= applies to a registered model name"):
        export(reference, tmp_path / "again.onnx", weights=str(weights))


def test_opset_14_keeps_hardswish_as_an_operator(tmp_path: Path) -> None:
    result = export(_seed_model(), tmp_path / "seed14.onnx", opset=14, image_size=32)
    model = onnx.load(str(result.path))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [14]
    assert {"HardSwish", "HardSigmoid"} <= _ops(result.path)


def test_dynamo_exporter(tmp_path: Path) -> None:
    result = export(_seed_model(), tmp_path / "seed_dynamo.onnx", image_size=32, dynamo=True, dynamic_batch=True)
    assert result.exporter == "dynamo" and result.checked_batches == (1, 3) and result.max_rel_diff <= 1e-4
    assert "BatchNormalization" not in _ops(result.path) and "HardSwish" in _ops(result.path)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"format": "tflite"}, ValueError, "format must be one of onnx, torchscript"),
        ({"opset": 13}, ValueError, "HardSwish"),
        ({"opset": 99}, ValueError, r"opset must be in 14\.\.20"),
        ({"opset": "18"}, TypeError, "opset must be an integer"),
        ({"opset": 17, "dynamo": True}, ValueError, r"18\.\."),
        ({"out": "model.pt"}, ValueError, "a .onnx file"),
        ({"format": "torchscript"}, ValueError, r"\.pt or \.ts"),
        ({"format": "torchscript", "out": "m.pt", "opset": 18}, ValueError, "ONNX and OpenVINO exports only"),
        ({"format": "openvino"}, ValueError, r"a \.xml file"),
        ({"format": "executorch", "out": "m.pte", "dynamic_batch": True}, ValueError, "fixed batch"),
        ({"model": "missing/best.safetensors"}, FileNotFoundError, "no checkpoint"),
        ({"model": "resnet50"}, ValueError, "neither a checkpoint file nor a registered model"),
        ({"model": 3}, TypeError, "model, a checkpoint path or a model name"),
        ({"batch_size": 0}, ValueError, "batch_size"),
    ],
)
def test_unsupported_options_raise(tmp_path: Path, kwargs: dict, error: type, match: str) -> None:
    model = kwargs.pop("model", _seed_model())
    out = tmp_path / kwargs.pop("out", "model.onnx")
    with pytest.raises(error, match=match):
        export(model, out, **kwargs)
    assert not out.exists()


def test_failed_verification_raises_with_numbers_and_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter = sys.modules["lucid.deploy.export"]
    real_runner = exporter._onnx_runner
    out = tmp_path / "model.onnx"
    export(_seed_model(), out, image_size=32)  # the previous export, which must stay
    previous = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(exporter, "_onnx_runner", lambda path: lambda x: [o + 1.0 for o in real_runner(path)(x)])
    with pytest.raises(VerificationError, match=r"max \|diff\| = .* > rtol 0\.0001"):
        export(_seed_model(), out, image_size=32)
    # the old model and its digest as they were, no temporary file left behind
    assert (
        {p.name: p.read_bytes() for p in tmp_path.iterdir()}
        == previous
        == {
            "model.onnx": previous["model.onnx"],
            "model.onnx.sha256": previous["model.onnx.sha256"],
        }
    )


# ---------------------------------------------------------------------------------------------
# Predictor
# ---------------------------------------------------------------------------------------------


def test_predictor_equals_the_eager_model(tmp_path: Path, digits_checkpoint: Path, digits_onnx: Path) -> None:
    images, _ = _val_digits(4)
    grey_u8 = [(img[0] * 255).round().to(torch.uint8).numpy() for img in images]
    inputs = [
        grey_u8[0],  # (H, W) uint8 array
        Image.fromarray(grey_u8[1], mode="L"),  # PIL image
        images[2].numpy(),  # (C, H, W) float array in [0, 1]
        tmp_path / "digit.png",  # an image file
    ]
    Image.fromarray(grey_u8[3], mode="L").save(inputs[3])

    predictor = Predictor(digits_onnx, threads=1, backend="onnxruntime")
    assert predictor.session.get_session_options().intra_op_num_threads == 1
    assert predictor.classes == DIGITS
    batch = predictor.preprocess(inputs)
    assert batch.shape == (4, 1, 32, 32) and batch.dtype == np.float32
    with torch.no_grad():
        expected = torch.softmax(load_model(digits_checkpoint)(torch.from_numpy(batch)), dim=1).numpy()
    np.testing.assert_allclose(predictor.probabilities(inputs), expected, atol=1e-5)

    ranked = predictor.predict(inputs, topk=3)
    assert len(ranked) == 4
    for row, probs in zip(ranked, expected, strict=True):
        assert [label for label, _ in row] == [DIGITS[i] for i in np.argsort(-probs)[:3]]
        assert [p for _, p in row] == pytest.approx(sorted(probs, reverse=True)[:3], abs=1e-5)
    assert len(predictor.predict(inputs[3], topk=20)) == 1 and len(predictor.predict(inputs[3], topk=20)[0]) == 10


def test_predict_with_an_export_refuses_test_time_flip(tmp_path: Path, digits_onnx: Path, capsys) -> None:
    """An export runs the network once per image; ``--tta flip`` is refused, not silently dropped."""
    photo = tmp_path / "digit.png"
    Image.new("L", (32, 32), 30).save(photo)
    assert main(["predict", str(digits_onnx), str(photo), "--tta", "flip"]) == 2
    assert "--tta flip: an exported model runs the network once per image" in capsys.readouterr().err
    assert main(["predict", str(digits_onnx), str(photo), "--tta", "none", "--topk", "1"]) == 0


def test_predictor_preprocessing_matches_lucid_train(
    digits_checkpoint: Path, digits_onnx: Path, tmp_path: Path
) -> None:
    """Deploy and training read an image the same way: decoded and made grey by the one reader,
    then resized, cropped and normalised as a training run's validation images are."""
    from lucid.data import eval_sample_transform
    from lucid.train.predict import load_images

    extra = load_model(digits_checkpoint).checkpoint_extra
    path = tmp_path / "colour.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(path)
    transform = eval_sample_transform(32, 32, extra["mean"], extra["std"])
    train_side = load_images([path], transform, channels=1)[0]
    np.testing.assert_allclose(Predictor(digits_onnx).preprocess(str(path))[0], train_side.numpy(), atol=1e-5)
    pil = Image.open(path)  # a PIL image in memory reads the same as its file
    np.testing.assert_allclose(Predictor(digits_onnx).preprocess(pil)[0], train_side.numpy(), atol=1e-5)


def test_predictor_on_an_rgb_model_with_a_static_batch(tmp_path: Path) -> None:
    model = _seed_model(in_channels=3)
    path = export(model, tmp_path / "rgb.onnx", image_size=32, classes=[f"c{i}" for i in range(10)]).path
    predictor = Predictor(path)
    assert predictor.fixed_batch == 1
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 255, (48, 40, 3), dtype=np.uint8) for _ in range(3)] + [
        rng.integers(0, 255, (30, 30), dtype=np.uint8)
    ]
    batch = predictor.preprocess(images)  # HWC uint8 RGB, and a grey image expanded to 3 channels
    assert batch.shape == (4, 3, 32, 32)
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(predictor.logits(batch), expected, rtol=1e-4, atol=1e-5)
    assert predictor.predict(images, topk=1)[0][0][0].startswith("c")


def test_predictor_errors(tmp_path: Path, digits_onnx: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no model file"):
        Predictor(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match=r"runs \.onnx, \.xml"):
        Predictor(tmp_path / "model.pt")
    bare = tmp_path / "bare.onnx"  # an ONNX file written without lucid's metadata
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        torch.onnx.export(_seed_model(), (torch.zeros(1, 1, 32, 32),), str(bare), dynamo=False, opset_version=17)
    with pytest.raises(ValueError, match="records no lucid preprocessing"):
        Predictor(bare)
    predictor = Predictor(digits_onnx)
    with pytest.raises(ValueError, match=r"batch of shape \(N >= 1, 1, 32, 32\)"):
        predictor.logits(np.zeros((2, 3, 32, 32), np.float32))
    with pytest.raises(ValueError, match="topk"):
        predictor.predict(np.zeros((32, 32), np.uint8), topk=0)
    with pytest.raises(FileNotFoundError, match="no image file"):
        predictor.predict(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="threads"):
        Predictor(digits_onnx, threads=0)


# ---------------------------------------------------------------------------------------------
# quantize
# ---------------------------------------------------------------------------------------------


def test_int8_digits_model_agrees_with_fp32(digits_onnx: Path, digits_int8) -> None:
    result = digits_int8
    assert result.fp32_top1 >= 0.9, "the briefly trained digits model should be meaningfully accurate"
    assert result.top1_drop <= 1.0
    assert result.agreement >= 0.97
    assert result.num_eval == 360 and "validation" in result.evaluation and "train" in result.calibration

    model = onnx.load(str(result.path))
    ops = {node.op_type for node in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ format
    weights = {init.name: onnx.numpy_helper.to_array(init) for init in model.graph.initializer}
    conv_weight_scales = [
        weights[node.input[1]]
        for node in model.graph.node
        if node.op_type == "DequantizeLinear"
        and weights.get(node.input[0]) is not None
        and weights[node.input[0]].ndim == 4
        and node.input[1] in weights
    ]
    assert conv_weight_scales and all(s.ndim == 1 and s.size > 1 for s in conv_weight_scales)  # per-channel
    props = _props(result.path)
    assert json.loads(props["classes"]) == DIGITS and "quantization" in props
    assert result.int8_bytes < result.fp32_bytes / 2

    images, _ = _val_digits(32)
    fp32, int8 = Predictor(digits_onnx), Predictor(result.path)
    top_fp32 = [row[0][0] for row in fp32.predict(images, topk=1)]
    top_int8 = [row[0][0] for row in int8.predict(images, topk=1)]
    assert np.mean(np.array(top_fp32) == np.array(top_int8)) >= 0.9


def test_quantize_calibrates_on_an_image_folder_with_labels(tmp_path: Path, digits_onnx: Path) -> None:
    images, labels = _val_digits(30)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = tmp_path / "calib" / DIGITS[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image[0] * 255).round().to(torch.uint8).numpy(), mode="L").save(folder / f"{i}.png")
    result = quantize(digits_onnx, tmp_path / "folder.int8.onnx", tmp_path / "calib", num_calib=16)
    assert result.num_calib == 16 and result.num_eval == 30
    assert "class-folder labels" in result.evaluation
    assert result.fp32_top1 is not None and result.int8_top1 is not None and result.agreement >= 0.8
    # A split tree (any case, Roboflow's valid/): calibrated on the training split, scored on the other.
    for i, file in enumerate(sorted((tmp_path / "calib").rglob("*.png"))):
        target = tmp_path / "split" / ("Train" if i < 20 else "valid") / file.parent.name / file.name
        target.parent.mkdir(parents=True, exist_ok=True)
        file.rename(target)
    result = quantize(digits_onnx, tmp_path / "split.int8.onnx", tmp_path / "split", num_calib=16)
    assert result.num_calib == 16 and result.num_eval == 10
    assert str(tmp_path / "split" / "valid") in result.evaluation and "class-folder labels" in result.evaluation


def test_quantize_errors(tmp_path: Path, digits_onnx: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no model file"):
        quantize(tmp_path / "missing.onnx", tmp_path / "out.onnx")
    with pytest.raises(ValueError, match="written to a .onnx file"):
        quantize(digits_onnx, tmp_path / "out.int8")
    with pytest.raises(ValueError, match="must differ"):
        quantize(digits_onnx, digits_onnx)
    with pytest.raises(FileNotFoundError, match="no folder"):
        quantize(digits_onnx, tmp_path / "out.onnx", tmp_path / "no-such-dir")
    with pytest.raises(ValueError, match="calibrate_method"):
        quantize(digits_onnx, tmp_path / "out.onnx", calibrate_method="magic")
    with pytest.raises(ValueError, match="num_calib"):
        quantize(digits_onnx, tmp_path / "out.onnx", num_calib=0)
    # A drop larger than allowed (here: any drop below -100 points) fails and writes nothing.
    with pytest.raises(ExportError, match="points below fp32"):
        quantize(digits_onnx, tmp_path / "out.onnx", num_calib=16, num_eval=32, max_top1_drop=-101.0)
    assert not (tmp_path / "out.onnx").exists()


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def test_cli_export_and_quantize(tmp_path: Path, digits_checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    onnx_file, int8_file, ts_file = tmp_path / "d.onnx", tmp_path / "d.int8.onnx", tmp_path / "d.pt"
    assert main(["export", str(digits_checkpoint), "--out", str(onnx_file), "--dynamic-batch", "--opset", "17"]) == 0
    out = capsys.readouterr().out
    assert "max |diff| vs eager" in out and "opset 17" in out and "10 class names" in out
    assert main(["export", str(digits_checkpoint), "--format", "torchscript", "--out", str(ts_file)]) == 0
    assert ts_file.is_file()
    assert main(["quantize", str(onnx_file), "--calib", "digits", "--out", str(int8_file), "--num-calib", "64"]) == 0
    out = capsys.readouterr().out
    assert "top-1 agreement with fp32" in out and "top-1: fp32" in out and int8_file.is_file()


def test_cli_writes_beside_the_checkpoint_without_out(
    tmp_path: Path, digits_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As Ultralytics' ``best.pt`` to ``best.onnx``: no --out puts the file beside its source."""
    checkpoint = tmp_path / "best.safetensors"
    shutil.copyfile(digits_checkpoint, checkpoint)  # the shared run folder stays as trained
    assert main(["export", str(checkpoint)]) == 0
    assert f"wrote {tmp_path / 'best.onnx'}" in capsys.readouterr().out
    assert main(["quantize", str(tmp_path / "best.onnx"), "--calib", "digits", "--num-calib", "32"]) == 0
    assert f"wrote {tmp_path / 'best.int8.onnx'}" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best.int8.onnx",
        "best.int8.onnx.sha256",
        "best.onnx",
        "best.onnx.sha256",
        "best.safetensors",
    ]


def test_default_output_paths(tmp_path: Path) -> None:
    checkpoint = tmp_path / "run" / "best.safetensors"
    assert default_model_path(checkpoint, ".xml") == tmp_path / "run" / "best.xml"
    assert default_model_path(str(checkpoint), "-export") == tmp_path / "run" / "best-export"
    assert default_model_path("mobilenet_v3_small", ".pte") == Path("mobilenet_v3_small.pte")
    assert default_int8_path(tmp_path / "m.onnx", "openvino") == tmp_path / "m.int8.xml"
    assert default_int8_path(checkpoint, "executorch") == tmp_path / "run" / "best.int8.pte"
    with pytest.raises(ValueError, match="give an output path: a MobileNet_V3 has no file name"):
        export(_seed_model())


def test_cli_errors_are_one_clean_line(
    tmp_path: Path, digits_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(tmp_path / "missing.safetensors"), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "lucid export: error: no checkpoint" in capsys.readouterr().err
    assert main(["export", str(digits_checkpoint), "--out", str(tmp_path / "m.onnx"), "--opset", "12"]) == 2
    assert "opset must be in 14..20" in capsys.readouterr().err
    assert main(["quantize", str(tmp_path / "m.onnx"), "--calib", "digits", "--out", str(tmp_path / "q.onnx")]) == 2
    assert "lucid quantize: error: no model file" in capsys.readouterr().err
