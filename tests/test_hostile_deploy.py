"""Hostile inputs to the deployment side: each gets a clear lucid error, never a silent wrong answer.

Built on the fly in temp dirs: odd input dtypes, empty images, byte-flipped model files,
a decompression bomb, garbage model files; CLI failures end in one line and a non-zero exit.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from lucid.cli import main
from lucid.deploy import Predictor, export
from lucid.deploy.integrity import digest_path
from lucid.deploy.runtime import available
from lucid.errors import DataError, LucidError
from lucid.models import MobileNet_V3, MobileNetV3Config

SIZE = 32
BACKENDS = ["onnxruntime"] + (["openvino"] if available("openvino") else [])


def _tiny() -> MobileNet_V3:
    config = MobileNetV3Config(
        bottleneck_cfg=[(3, 16, 16, True, False, 2, 2)], last_channels=64, num_classes=4, in_channels=3
    )
    torch.manual_seed(0)
    return MobileNet_V3(config).eval()


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    return export(_tiny(), folder / "tiny.onnx", dynamic_batch=True, image_size=SIZE, classes=list("abcd")).path


def _copy(model: Path, folder: Path) -> Path:
    """The model file(s) and digest copied into ``folder``."""
    copied = folder / model.name
    for part in (model, model.with_suffix(".bin"), digest_path(model)):
        if part.is_file():
            (folder / part.name).write_bytes(part.read_bytes())
    return copied


def _flip_byte(path: Path, offset_from_end: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) - offset_from_end] ^= 0x01
    path.write_bytes(bytes(data))


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width`` x ``height`` grey pixels (the pixel data is never reached)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.parametrize("backend", BACKENDS)
def test_float16_bfloat16_float64_batches_are_converted(onnx_file: Path, backend: str) -> None:
    predictor = Predictor(onnx_file, backend=backend)
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    expected = predictor.logits(x.numpy())
    for batch in (x.half(), x.bfloat16(), x.double(), x.numpy().astype(np.float16), x.numpy().astype(np.float64)):
        exact = batch.to(torch.float32).numpy() if isinstance(batch, torch.Tensor) else batch.astype(np.float32)
        np.testing.assert_allclose(predictor.logits(batch), predictor.logits(exact), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predictor.logits(x.double()), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(DataError, match="must be float16/32/64, got dtype int64"):
        predictor.logits(np.zeros((1, 3, SIZE, SIZE), np.int64))
    with pytest.raises(DataError, match="must be floating point"):
        predictor.logits(torch.zeros(1, 3, SIZE, SIZE, dtype=torch.uint8))
    # images (not batches) in fp16/bf16/fp64 are converted too
    image = torch.rand(3, 40, 40)
    reference = predictor.probabilities(image)
    for other in (image.half(), image.bfloat16(), image.double()):
        np.testing.assert_allclose(predictor.probabilities(other), reference, atol=1e-2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_images_and_batches_are_refused(onnx_file: Path, backend: str) -> None:
    predictor = Predictor(onnx_file, backend=backend)
    for empty in (
        np.zeros((0, 0), np.uint8),
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((5, 0, 3), np.uint8),
        torch.zeros(3, 0, 0),
    ):
        with pytest.raises(DataError, match="empty image"):
            predictor.predict(empty)
    with pytest.raises(DataError, match=r"N >= 1"):
        predictor.logits(np.zeros((0, 3, SIZE, SIZE), np.float32))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_byte_flipped_onnx_file_is_refused(tmp_path: Path, onnx_file: Path, backend: str) -> None:
    copied = _copy(onnx_file, tmp_path)
    Predictor(copied, backend=backend)  # intact: runs
    _flip_byte(copied)
    with pytest.raises(DataError, match="does not match the SHA-256 digest"):
        Predictor(copied, backend=backend)
    assert main(["predict", "--onnx", str(copied), str(_png_header_only(tmp_path / "x.png", 8, 8))]) == 2


@pytest.mark.skipif(not available("openvino"), reason="OpenVINO not installed (pip install 'lucid[deploy]')")
@pytest.mark.parametrize("part", [".xml", ".bin"])
def test_a_byte_flipped_openvino_ir_is_refused(tmp_path: Path, part: str) -> None:
    xml = export(_tiny(), tmp_path / "m.xml", "openvino", image_size=SIZE).path
    Predictor(xml)
    _flip_byte(xml.with_suffix(part), offset_from_end=40)
    with pytest.raises(DataError, match=rf"m{part} does not match the SHA-256 digest"):
        Predictor(xml)


@pytest.mark.skipif(not available("openvino"), reason="OpenVINO not installed (pip install 'lucid[deploy]')")
def test_an_openvino_ir_without_its_bin_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    xml = export(_tiny(), tmp_path / "m.xml", "openvino", image_size=SIZE).path
    xml.with_suffix(".bin").unlink()
    xml.with_suffix(".xml.sha256").unlink(missing_ok=True)
    for sidecar in tmp_path.glob("m.*.sha256"):
        sidecar.unlink()
    photo = _png_header_only(tmp_path / "x.png", 8, 8)
    assert main(["predict", str(xml), str(photo)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "m.xml: its weights file m.bin is missing" in err[0], err


def test_missing_digest_is_allowed_unless_required(tmp_path: Path, onnx_file: Path) -> None:
    copied = _copy(onnx_file, tmp_path)
    digest_path(copied).unlink()
    assert Predictor(copied, backend="onnxruntime").classes == list("abcd")
    with pytest.raises(DataError, match="no digest file"):
        Predictor(copied, verify_digest=True)
    digest_path(copied).write_text("not a digest\n")
    with pytest.raises(DataError, match="is not '<sha256>  <file name>'"):
        Predictor(copied)


@pytest.mark.parametrize("suffix", [".onnx", ".xml", ".pte"])
def test_garbage_model_files_are_refused(tmp_path: Path, suffix: str) -> None:
    module = {".onnx": "onnxruntime", ".xml": "openvino", ".pte": "executorch"}[suffix]
    if not available(module):
        pytest.skip(f"{module} not installed")
    garbage = tmp_path / f"garbage{suffix}"
    garbage.write_bytes(b"\x00\x01 not a model " * 10)
    with pytest.raises(LucidError, match="garbage"):
        Predictor(garbage)


def test_a_decompression_bomb_is_one_line(tmp_path: Path, onnx_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bomb = _png_header_only(tmp_path / "bomb.png", 20000, 20000)
    predictor = Predictor(onnx_file, backend="onnxruntime")
    with pytest.raises(DataError, match="bomb.png: refused, too many pixels"):
        predictor.predict(bomb)
    assert main(["predict", "--onnx", str(onnx_file), str(bomb)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bomb.png" in err and "Traceback" not in err


def test_export_refuses_flags_it_would_ignore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["mobilenet_v3_small", "--out", str(tmp_path / "m.onnx"), "--data", str(tmp_path)], "--data applies to"),
        (["mobilenet_v3_small", "--format", "all", "--out", str(tmp_path / "a"), "--batch-size", "2"], "--batch-size"),
        (["mobilenet_v3_small", "--format", "all", "--out", str(tmp_path / "a"), "--rtol", "0.5"], "--rtol does not"),
        (["mobilenet_v3_small", "--format", "all", "--out", str(tmp_path / "a"), "--dynamic-batch"], "--dynamic-batch"),
        (
            ["lraspp_mobilenet_v3_small", "--out", str(tmp_path / "s.onnx"), "--batch-size", "4"],
            "keeps its batch and image size free: batch_size (--batch-size) does not apply, got 4",
        ),
    ]
    for arguments, message in cases:
        assert main(["export", *arguments]) == 2, arguments
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.iterdir())  # nothing written
