"""OpenVINO IR and ExecuTorch exports, backend choice, NNCF quantization and the deployment matrix.

Parity is checked against torchvision's eager model holding the same weights (the real peer),
at small image sizes so the default suite stays quick; the full 224 px checks are marked slow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from lucid.cli import main
from lucid.deploy import Predictor, Preprocessing, VerificationError, choose_backend, export, export_all, quantize
from lucid.deploy.integrity import check_digest, digest_path
from lucid.deploy.runtime import available, is_x86
from lucid.errors import ExportError, MissingDependencyError
from lucid.models import MobileNet_V3, MobileNetV3Config, create_model
from lucid.models.weights import convert_state_dict
from lucid.train import digits_datasets
from reference_helpers import randomise_batchnorm

needs_openvino = pytest.mark.skipif(
    not available("openvino") or not available("nncf"),
    reason="OpenVINO/NNCF not installed (pip install 'lucid[deploy]')",
)
needs_executorch = pytest.mark.skipif(
    not available("executorch"), reason="ExecuTorch not installed (pip install 'lucid[mobile]')"
)
DIGITS = [str(d) for d in range(10)]
SIZE = 32  # presets run at any multiple of 32; tiny inputs keep the exports quick


def _peer(name: str) -> tuple[nn.Module, nn.Module]:
    """torchvision's ``name`` (random weights, perturbed BatchNorm) and lucid's model holding them."""
    torch.manual_seed(0)
    reference = randomise_batchnorm(getattr(torchvision.models, name)(), seed=1).eval()
    model = create_model(name)
    model.load_state_dict(convert_state_dict(reference.state_dict(), model))
    return reference, model.eval()


def _relative(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.abs(got - expected).max() / np.abs(expected).max())


def _tiny(in_channels: int = 1, num_classes: int = 10) -> MobileNet_V3:
    """Two inverted-residual blocks (one with SE + HardSwish): exports and trains in a moment."""
    config = MobileNetV3Config(
        bottleneck_cfg=[(3, 16, 16, True, False, 2, 2), (5, 72, 24, True, True, 2, 4)],
        last_channels=128,
        num_classes=num_classes,
        in_channels=in_channels,
    )
    torch.manual_seed(0)
    return MobileNet_V3(config)


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny network trained briefly on the digits training split, saved and exported to ONNX."""
    import lucid

    train_ds, _ = digits_datasets(image_size=SIZE, seed=0)
    mean, std = torch.tensor(train_ds.mean).view(1, -1, 1, 1), torch.tensor(train_ds.std).view(1, -1, 1, 1)
    x, y = (train_ds.images - mean) / std, train_ds.targets
    model = _tiny()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    order = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(4):
        for idx in torch.randperm(len(x), generator=order).split(32):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    for module in model.modules():  # the preset's BatchNorm momentum (0.01) needs far more steps to settle
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the pass below
    with torch.no_grad():
        model(x)
    model.eval()
    extra = {
        "categories": DIGITS,
        "image_size": SIZE,
        "in_channels": 1,
        "mean": train_ds.mean,
        "std": train_ds.std,
        "resize_size": SIZE,
        "interpolation": "bilinear",
        "data": {"kind": "digits", "split": {"seed": 0, "val_fraction": 0.2, "stratified": True}},
    }
    folder = tmp_path_factory.mktemp("digits-tiny")
    checkpoint = lucid.save(model, folder / "tiny.safetensors", extra=extra)
    onnx_file = export(checkpoint, folder / "tiny.onnx", dynamic_batch=True).path
    return checkpoint, onnx_file


# ---------------------------------------------------------------------------------------------
# parity with the eager model and torchvision
# ---------------------------------------------------------------------------------------------


@needs_openvino
@pytest.mark.parametrize("name", ["mobilenet_v3_small", "mobilenet_v3_large"])
def test_openvino_ir_matches_torchvision(tmp_path: Path, name: str) -> None:
    reference, model = _peer(name)
    result = export(model, tmp_path / f"{name}.xml", "openvino", dynamic_batch=True, image_size=SIZE)
    assert result.max_rel_diff < 1e-4 and result.checked_batches == (1, 3)
    assert (tmp_path / f"{name}.bin").is_file() and check_digest(result.path, required=True)
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = reference(x).numpy()
    predictor = Predictor(result.path)
    assert predictor.backend == "openvino"
    assert _relative(predictor.logits(x.numpy()), expected) < 1e-4


@needs_openvino
def test_openvino_ir_of_a_variant_matches_eager(tmp_path: Path) -> None:
    model = randomise_batchnorm(create_model("mobilenet_v3_large_075", num_classes=7), seed=4).eval()
    result = export(model, tmp_path / "v.xml", "openvino", image_size=SIZE, classes=list("abcdefg"))
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = model(x).numpy()
    predictor = Predictor(result.path)
    assert predictor.classes == list("abcdefg") and predictor.fixed_batch == 1
    assert _relative(predictor.logits(x), expected) < 1e-4


@needs_openvino
def test_openvino_compiles_one_static_shape_per_batch_and_keeps_the_file_free(tmp_path: Path) -> None:
    from lucid.deploy.runtime import OpenVINOModel

    model = randomise_batchnorm(_tiny(in_channels=3), seed=2).eval()
    path = export(model, tmp_path / "t.xml", "openvino", dynamic_batch=True, image_size=SIZE).path
    runtime = OpenVINOModel(path, threads=1)
    requests = runtime.parallel_requests()
    for n in (1, 5, 2 * requests + 1, 1):  # batch 1, then parts of two sizes, then batch 1 again
        x = torch.randn(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(n))
        with torch.no_grad():
            expected = model(x).numpy()
        assert _relative(runtime.run(x.numpy()), expected) < 1e-4
        assert len(runtime.compiled_shapes) <= OpenVINOModel.MAX_SHAPES
    shapes = {shape for _, shape in runtime.compiled_shapes}
    assert (1, 3, SIZE, SIZE) in shapes and all(shape[0] is not None for shape in shapes)
    assert runtime.input_shape == (None, 3, SIZE, SIZE)  # the file's model itself stays free-batch
    assert runtime.model.inputs[0].get_partial_shape().is_dynamic
    with pytest.raises(ValueError, match=rf"takes input Nx3x{SIZE}x{SIZE}, got 1x3x64x64"):
        runtime.run(np.zeros((1, 3, 64, 64), np.float32))


@needs_executorch
@pytest.mark.slow  # ~18 s; the default suite compares ExecuTorch with eager in test_same_input_everywhere
def test_executorch_program_matches_eager(tmp_path: Path) -> None:
    model = randomise_batchnorm(_tiny(in_channels=3), seed=3).eval()
    result = export(model, tmp_path / "t.pte", "executorch", image_size=SIZE, batch_size=2)
    assert result.max_rel_diff < 1e-4 and result.exporter == "torch.export + XNNPACK"
    x = torch.randn(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model(x).numpy()
    predictor = Predictor(result.path)
    assert predictor.backend == "executorch" and predictor.input_shape == (2, 3, SIZE, SIZE)
    assert _relative(predictor.logits(x), expected) < 1e-4  # two calls of the batch-2 program
    with pytest.raises(ValueError, match="batches of exactly 2"):
        predictor.logits(x[:3])


@needs_executorch
@pytest.mark.slow
def test_executorch_program_matches_torchvision(tmp_path: Path) -> None:
    reference, model = _peer("mobilenet_v3_small")
    result = export(model, tmp_path / "s.pte", "executorch", image_size=SIZE)
    assert result.max_rel_diff < 1e-4 and result.exporter == "torch.export + XNNPACK"
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = reference(x).numpy()
    predictor = Predictor(result.path)
    assert predictor.backend == "executorch" and predictor.input_shape == (1, 3, SIZE, SIZE)
    assert _relative(predictor.logits(x), expected) < 1e-4
    # a batch of 3 runs image by image through the batch-1 program
    assert predictor.logits(np.zeros((3, 3, SIZE, SIZE), np.float32)).shape == (3, 1000)


@needs_executorch
@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet_v3_large", "mobilenet_v3_large_075"])
def test_executorch_program_of_large_presets_at_224(tmp_path: Path, name: str) -> None:
    model = randomise_batchnorm(create_model(name), seed=6).eval()
    result = export(model, tmp_path / f"{name}.pte", "executorch")
    assert result.max_rel_diff < 1e-4


@needs_openvino
@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet_v3_small", "mobilenet_v3_large"])
def test_openvino_ir_at_224_with_batches(tmp_path: Path, name: str) -> None:
    reference, model = _peer(name)
    result = export(model, tmp_path / f"{name}.xml", "openvino", dynamic_batch=True)
    x = torch.randn(8, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = reference(x).numpy()
    assert _relative(Predictor(result.path).logits(x), expected) < 1e-4  # THROUGHPUT path: 8 images, split


# ---------------------------------------------------------------------------------------------
# metadata, atomic writes, digests
# ---------------------------------------------------------------------------------------------


@needs_openvino
def test_metadata_round_trip_through_every_format(tmp_path: Path, digits_model: tuple[Path, Path]) -> None:
    checkpoint, onnx_file = digits_model
    expected = Predictor(onnx_file, backend="onnxruntime")
    files = [export(checkpoint, tmp_path / "d.xml", "openvino", dynamic_batch=True).path]
    if available("executorch"):
        files.append(export(checkpoint, tmp_path / "d.pte", "executorch").path)
    images = np.random.default_rng(0).integers(0, 256, (3, 20, 24), dtype=np.uint8)
    for path in files:
        predictor = Predictor(path)
        assert predictor.preprocessing == expected.preprocessing
        assert predictor.preprocessing == Preprocessing(
            SIZE, 1, expected.preprocessing.mean, expected.preprocessing.std, SIZE
        )
        assert predictor.classes == DIGITS
        assert json.loads(predictor.metadata["train_data"])["kind"] == "digits"
        np.testing.assert_allclose(
            predictor.probabilities(list(images)), expected.probabilities(list(images)), atol=1e-5
        )


@needs_openvino
def test_failed_openvino_verification_leaves_old_files_untouched(tmp_path: Path) -> None:
    model = randomise_batchnorm(_tiny(in_channels=3), seed=1)
    first = export(model, tmp_path / "m.xml", "openvino", image_size=SIZE)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(before) == {"m.xml", "m.bin", "m.xml.sha256"}
    other = randomise_batchnorm(_tiny(in_channels=3), seed=2)
    with pytest.raises(VerificationError, match="nothing was written"):
        export(other, tmp_path / "m.xml", "openvino", image_size=SIZE, rtol=1e-12)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp files, old pair intact
    assert check_digest(first.path)


def test_digest_file_is_sha256sum_format(tmp_path: Path) -> None:
    result = export(_tiny(), tmp_path / "t.onnx", image_size=SIZE)
    line = digest_path(result.path).read_text()
    assert line.endswith("  t.onnx\n") and len(line.split()[0]) == 64
    done = subprocess.run(["sha256sum", "-c", "t.onnx.sha256"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and "t.onnx: OK" in done.stdout


# ---------------------------------------------------------------------------------------------
# backend choice and missing runtimes
# ---------------------------------------------------------------------------------------------


def test_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    auto = "openvino" if is_x86() and available("openvino") else "onnxruntime"
    assert choose_backend("m.onnx") == auto
    assert choose_backend("m.xml") == "openvino" and choose_backend("m.pte") == "executorch"
    assert choose_backend("m.onnx", "onnxruntime") == "onnxruntime"
    with pytest.raises(ValueError, match="cannot run a .xml file"):
        choose_backend("m.xml", "onnxruntime")
    with pytest.raises(ValueError, match="backend must be one of"):
        choose_backend("m.onnx", "tensorrt")
    with pytest.raises(ValueError, match=r"\.onnx, \.xml"):
        choose_backend("m.tflite")
    import lucid.deploy.runtime as runtime

    monkeypatch.setattr(runtime, "is_x86", lambda: False)  # an ARM server: ONNX Runtime
    assert choose_backend("m.onnx") == "onnxruntime"
    monkeypatch.setattr(runtime, "is_x86", lambda: True)
    monkeypatch.setitem(sys.modules, "openvino", None)  # x86 without OpenVINO installed
    assert choose_backend("m.onnx") == "onnxruntime"


@needs_openvino
def test_both_backends_give_the_same_answers(digits_model: tuple[Path, Path]) -> None:
    _, onnx_file = digits_model
    ort_predictor = Predictor(onnx_file, backend="onnxruntime", threads=1)
    ov_predictor = Predictor(onnx_file, backend="openvino", threads=1)
    assert (ort_predictor.backend, ov_predictor.backend) == ("onnxruntime", "openvino")
    _, val_ds = digits_datasets(image_size=SIZE, seed=0)
    batch = ort_predictor.preprocess(list(val_ds.images[:17]))
    expected = ort_predictor.logits(batch)
    np.testing.assert_allclose(ov_predictor.logits(batch), expected, rtol=1e-4, atol=1e-4)  # THROUGHPUT path
    np.testing.assert_allclose(ov_predictor.logits(batch[:1]), expected[:1], rtol=1e-4, atol=1e-4)  # LATENCY path
    hints = {
        hint: compiled.get_property("PERFORMANCE_HINT") for hint, compiled in ov_predictor.runtime._compiled.items()
    }
    assert {str(v).split(".")[-1] for v in hints.values()} == {"LATENCY", "THROUGHPUT"}


@pytest.mark.parametrize(
    ("fmt", "module", "extra"), [("openvino", "openvino", "deploy"), ("executorch", "executorch", "mobile")]
)
def test_missing_runtime_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # what an environment without the package sees
    suffix = ".xml" if fmt == "openvino" else ".pte"
    with pytest.raises(MissingDependencyError, match=rf"pip install 'lucid\[{extra}\]'"):
        export(_tiny(), tmp_path / f"m{suffix}", fmt, image_size=SIZE)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(MissingDependencyError, match=rf"lucid\[{extra}\]"):
        Predictor(_write_empty(tmp_path / f"x{suffix}"))
    assert main(["export", "mobilenet_v3_small", "--format", fmt, "--out", str(tmp_path / f"m{suffix}")]) == 1


def _write_empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def test_missing_nncf_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digits_model: tuple[Path, Path]
) -> None:
    if not available("openvino"):
        pytest.skip("OpenVINO not installed (pip install 'lucid[deploy]')")
    monkeypatch.setitem(sys.modules, "nncf", None)
    with pytest.raises(MissingDependencyError, match=r"lucid\[deploy\]"):
        quantize(digits_model[1], tmp_path / "q.xml", backend="openvino", num_calib=16, num_eval=16)
    assert not (tmp_path / "q.xml").exists()


# ---------------------------------------------------------------------------------------------
# quantization through both backends
# ---------------------------------------------------------------------------------------------


@needs_openvino
def test_quantize_through_both_backends(tmp_path: Path, digits_model: tuple[Path, Path]) -> None:
    _, onnx_file = digits_model
    results = {
        backend: quantize(onnx_file, tmp_path / f"q{suffix}", "digits", backend=backend, num_calib=128)
        for backend, suffix in (("onnxruntime", ".int8.onnx"), ("openvino", ".int8.xml"))
    }
    for backend, result in results.items():
        assert result.backend == backend and result.num_eval == 360 and "validation" in result.evaluation
        assert result.fp32_top1 >= 0.85, "the briefly trained tiny model should be meaningfully accurate"
        assert result.top1_drop <= 2.0 and result.agreement >= 0.95, result.summary()
        assert check_digest(result.path, required=True)
        weights = result.path.with_suffix(".bin") if backend == "openvino" else result.path  # a tiny graph's XML
        assert weights.stat().st_size < 0.9 * result.fp32_bytes  # outweighs its weights; scales weigh much too
    ov = Predictor(results["openvino"].path)
    assert ov.classes == DIGITS and "NNCF" in json.loads(ov.metadata["quantization"])["format"]
    import openvino as ov_module

    types = {op.get_type_name() for op in ov_module.Core().read_model(str(results["openvino"].path)).get_ops()}
    assert "FakeQuantize" in types or "FakeConvert" in types  # int8 ranges in the graph


@needs_openvino
def test_openvino_quantize_honours_max_drop_and_rejects_ort_options(
    tmp_path: Path, digits_model: tuple[Path, Path]
) -> None:
    _, onnx_file = digits_model
    with pytest.raises(ExportError, match="points below fp32"):
        quantize(onnx_file, tmp_path / "q.xml", backend="openvino", num_calib=32, num_eval=32, max_top1_drop=-101.0)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="reduce_range"):
        quantize(onnx_file, tmp_path / "q.xml", backend="openvino", reduce_range=False)
    with pytest.raises(ValueError, match=r"written to a \.xml file"):
        quantize(onnx_file, tmp_path / "q.onnx", backend="openvino")
    assert (
        main(
            [
                "quantize",
                str(onnx_file),
                "--backend",
                "openvino",
                "--calib",
                "digits",
                "--out",
                str(tmp_path / "q.xml"),
                "--num-calib",
                "32",
                "--num-eval",
                "32",
                "--max-drop",
                "-101",
            ]
        )
        == 1
    )
    assert (
        main(
            [
                "quantize",
                str(onnx_file),
                "--backend",
                "openvino",
                "--per-tensor",
                "--calib",
                "digits",
                "--out",
                str(tmp_path / "q.xml"),
            ]
        )
        == 2
    )


@pytest.mark.slow  # ~19 s
@needs_executorch
def test_quantize_for_executorch_with_the_xnnpack_quantizer(tmp_path: Path, digits_model: tuple[Path, Path]) -> None:
    checkpoint, _ = digits_model
    result = quantize(checkpoint, tmp_path / "q.int8.pte", "digits", backend="executorch", num_calib=64, num_eval=120)
    assert result.backend == "executorch" and result.num_eval == 120 and "validation" in result.evaluation
    assert result.fp32_top1 >= 0.85 and result.top1_drop <= 3.0 and result.agreement >= 0.9, result.summary()
    assert check_digest(result.path, required=True)
    predictor = Predictor(result.path)
    assert predictor.classes == DIGITS and "XNNPACK" in json.loads(predictor.metadata["quantization"])["format"]
    with pytest.raises(ValueError, match="per_channel"):
        quantize(checkpoint, tmp_path / "x.pte", backend="executorch", per_channel=False)
    with pytest.raises(ValueError, match=r"written to a \.pte file"):
        quantize(checkpoint, tmp_path / "x.onnx", backend="executorch")


# ---------------------------------------------------------------------------------------------
# the matrix and the command line
# ---------------------------------------------------------------------------------------------


@needs_openvino
def test_export_all_matrix(tmp_path: Path, digits_model: tuple[Path, Path]) -> None:
    checkpoint, _ = digits_model
    rows = export_all(
        checkpoint,
        tmp_path / "all",
        formats=["onnx", "openvino", "int8"],
        num_calib=64,
        num_eval=120,
        latency_budget_s=0.05,
    )
    names = [(r.name, r.runtime) for r in rows]
    assert names[0] == ("PyTorch eager fp32", "torch")
    assert ("OpenVINO IR fp32", "openvino") in names and ("ONNX fp32", "onnxruntime") in names
    assert ("OpenVINO IR int8 (NNCF)", "openvino") in names and ("ONNX int8 (ORT quantizer)", "onnxruntime") in names
    eager_top1 = rows[0].top1
    assert eager_top1 is not None and eager_top1 >= 0.85
    for row in rows[1:]:
        assert row.path is not None and row.path.is_file() and row.bytes > 0 and row.latency_ms > 0
        if "fp32" in row.name:
            assert row.agreement == 1.0 and row.max_abs_diff < 1e-3 and row.top1 == eager_top1
        else:
            assert row.agreement >= 0.9 and row.top1 >= eager_top1 - 0.05
    assert {p.name for p in (tmp_path / "all").iterdir()} >= {
        "tiny.onnx",
        "tiny.xml",
        "tiny.bin",
        "tiny.int8.onnx",
        "tiny.int8.xml",
        "tiny.int8.bin",
    }
    assert not list((tmp_path / "all").glob("*.pt"))  # nothing in lucid runs TorchScript: --format all writes none


@needs_openvino
@pytest.mark.slow
def test_cli_export_all_prints_the_matrix(
    tmp_path: Path, digits_model: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint, _ = digits_model
    assert main(["export", str(checkpoint), "--format", "all", "--out", str(tmp_path / "all")]) == 0
    out = capsys.readouterr().out
    assert "| OpenVINO IR fp32 | openvino |" in out and "agreement with eager | top-1" in out


@needs_openvino
def test_cli_export_openvino_and_predict_backend(
    tmp_path: Path, digits_model: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint, _ = digits_model
    xml = tmp_path / "d.xml"
    assert main(["export", str(checkpoint), "--format", "openvino", "--out", str(xml), "--dynamic-batch"]) == 0
    assert "wrote" in capsys.readouterr().out and xml.with_suffix(".bin").is_file()
    assert main(["export", str(checkpoint), "--format", "openvino", "--out", str(tmp_path / "d.onnx")]) == 2
    assert "written to a .xml file" in capsys.readouterr().err
    _, val_ds = digits_datasets(image_size=SIZE, seed=0)
    image = tmp_path / "digit.png"
    from PIL import Image

    Image.fromarray((val_ds.images[0, 0] * 255).round().to(torch.uint8).numpy(), mode="L").save(image)
    answers = []
    for backend in ("openvino", "onnxruntime", "auto"):
        assert (
            main(
                [
                    "predict",
                    "--onnx",
                    str(xml if backend != "onnxruntime" else digits_model[1]),
                    str(image),
                    "--backend",
                    backend,
                    "--topk",
                    "1",
                    "--json",
                ]
            )
            == 0
        )
        answers.append(json.loads(capsys.readouterr().out))
    assert (
        answers[0] == answers[2]
        and answers[0][0]["predictions"][0]["label"] == answers[1][0]["predictions"][0]["label"]
    )
    assert main(["predict", "--onnx", str(xml), str(image), "--backend", "onnxruntime"]) == 2
    assert "cannot run a .xml file" in capsys.readouterr().err
    # bf16 is OpenVINO's precision: it gives the same answer here, and ONNX Runtime refuses it by name.
    bf16 = ["predict", "--onnx", str(xml), str(image), "--precision", "bf16", "--topk", "1", "--json"]
    assert main([*bf16, "--backend", "openvino"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["predictions"][0]["label"] == answers[0][0]["predictions"][0]["label"]
    onnx_bf16 = ["predict", "--onnx", str(digits_model[1]), str(image), "--precision", "bf16"]
    assert main([*onnx_bf16, "--backend", "onnxruntime"]) == 2
    assert "precision 'bf16' is an OpenVINO setting; tiny.onnx runs on onnxruntime" in capsys.readouterr().err


@needs_openvino
def test_openvino_bf16_predictor_stays_close_to_f32(digits_model: tuple[Path, Path]) -> None:
    _, onnx_file = digits_model
    _, val_ds = digits_datasets(image_size=SIZE, seed=0)
    images = list((val_ds.images[:32, 0] * 255).round().to(torch.uint8).numpy())  # real digits
    f32 = Predictor(onnx_file, backend="openvino").probabilities(images)
    bf16 = Predictor(onnx_file, backend="openvino", precision="bf16").probabilities(images)
    assert (bf16.argmax(1) == f32.argmax(1)).mean() >= 0.95 and np.abs(bf16 - f32).max() < 0.1
    with pytest.raises(ValueError, match="precision must be f32, bf16 or f16, got 'fp64'"):
        Predictor(onnx_file, backend="openvino", precision="fp64")


def test_predict_does_its_torch_work_on_one_thread_and_restores_the_count(
    digits_model: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ONNX Runtime, whose pool is still busy-waiting after a run, the torch work around the
    call (resizing a photo, NMS) runs on one thread; the caller's thread count is as it was
    afterwards, also when the postprocess fails. A runtime whose threads sleep after a run
    (OpenVINO, or ONNX Runtime with ``spinning=False``) keeps torch's count."""
    _, onnx_file = digits_model
    predictor = Predictor(onnx_file, backend="onnxruntime", threads=1)
    handler = predictor.task_handler
    seen: list[int] = []
    prepare, postprocess = handler.prepare_batches, handler.postprocess

    def counting_prepare(*args: object, **kwargs: object) -> object:
        seen.append(torch.get_num_threads())
        return prepare(*args, **kwargs)

    def failing_postprocess(*args: object, **kwargs: object) -> object:
        seen.append(torch.get_num_threads())
        raise RuntimeError("postprocess failed")

    monkeypatch.setattr(handler, "prepare_batches", counting_prepare)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        _, val_ds = digits_datasets(image_size=SIZE, seed=0)
        assert len(predictor.predict(list(val_ds.images[:3]), topk=1)) == 3
        assert seen == [1] and torch.get_num_threads() == 2
        monkeypatch.setattr(handler, "postprocess", failing_postprocess)
        with pytest.raises(RuntimeError, match="postprocess failed"):
            predictor.predict(list(val_ds.images[:1]))
        assert seen == [1, 1, 1] and torch.get_num_threads() == 2
        monkeypatch.setattr(handler, "postprocess", postprocess)
        passive = Predictor(onnx_file, backend="onnxruntime", threads=1, spinning=False)
        assert len(passive.predict(list(val_ds.images[:1]), topk=1)) == 1 and seen[-1] == 2
    finally:
        torch.set_num_threads(previous)
        monkeypatch.setattr(handler, "postprocess", postprocess)
