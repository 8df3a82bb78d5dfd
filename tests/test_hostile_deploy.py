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
from PIL import Image

from cli_helpers import main_within
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


# ---------------------------------------------------------------------------------------------
# Every task's exports, through the command line (tiny_runs: one finished run per task)
# ---------------------------------------------------------------------------------------------


def _main(capsys: pytest.CaptureFixture[str], *args: object, seconds: int = 120) -> tuple[int, str]:
    """``lucid.cli.main`` under a ``signal.alarm`` (a hang fails the test): the exit status and
    the one ``lucid <command>: `` line on stderr ('' when there is none)."""
    code = main_within(*args, seconds=seconds)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith(f"lucid {args[0]}: ")]
    assert len(lines) <= 1 and "Traceback" not in err, err
    return code, (lines[0] if lines else "")


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# detection's case (~13 s) under -m slow: the digest path is the task-free one the other two take
@pytest.mark.parametrize("task", ["classify", "segment", pytest.param("detect", marks=pytest.mark.slow)])
def test_every_tasks_export_is_digested_checked_and_replaced_only_whole(tiny_runs, task, tmp_path, capsys):
    """Found for segmentation: no .sha256, so a changed weight ran with exit 0. Every task's export
    now gets one that predict checks; a failed export leaves the old pair and no temporary; a
    killed export's temporaries go with the next export; predict takes the export first."""
    run = tiny_runs[task]
    model = tmp_path / "m.onnx"
    assert _main(capsys, "export", run.checkpoint, "--out", model)[0] == 0
    assert sorted(_bytes(tmp_path)) == ["m.onnx", "m.onnx.sha256"]
    assert f"  {model.name}" in (tmp_path / "m.onnx.sha256").read_text()
    assert _main(capsys, "predict", model, run.photo, "--out", tmp_path / "pictures")[0] == 0  # the export first
    assert list((tmp_path / "pictures").iterdir())
    stray = tmp_path / ".m.onnx.k1ll3d00.tmp"
    stray.write_bytes(b"half")
    assert _main(capsys, "export", run.checkpoint, "--out", model)[0] == 0
    assert not stray.exists()
    before = _bytes(tmp_path)
    size = ["--image-size", "320"] if task == "detect" else ["--image-size", "24"]
    code, line = _main(capsys, "export", run.checkpoint, "--out", model, "--rtol", "1e-30", *size)
    assert code == 1 and "verification failed" in line and "nothing was written" in line
    assert _bytes(tmp_path) == before  # the old model and digest, and no temporary beside them
    _flip_byte(model)
    code, line = _main(capsys, "predict", model, run.photo, "--out", tmp_path / "refused")
    assert code == 2 and f"{model} does not match the SHA-256 digest recorded at export in m.onnx.sha256" in line
    assert not (tmp_path / "refused").exists()


@pytest.mark.parametrize(
    ("task", "edited", "message"),
    [
        ("classify", "segment", "records task 'segment' but its output has shape [1, 10]"),
        ("classify", "detect", "records task 'detect', whose models have 2 output(s) (boxes, scores); this file has 1"),
        ("detect", "segment", "records task 'segment', whose models have 1 output(s) (logits); this file has 2"),
        ("detect", "classify", "records task 'classify', whose models have 1 output(s) (logits); this file has 2"),
    ],
)
def test_a_task_edited_to_another_is_refused_by_the_digest_first(tiny_runs, task, edited, message, tmp_path, capsys):
    """Found: a task field changed to the other task gave internal errors. The digest is checked
    before the task is read; without the digest, the task is checked against the outputs."""
    import onnx

    model = tmp_path / "m.onnx"
    assert _main(capsys, "export", tiny_runs[task].checkpoint, "--out", model)[0] == 0
    proto = onnx.load(str(model))
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["task"] == task
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {**props, "task": edited})
    onnx.save(proto, str(model))
    code, line = _main(capsys, "predict", model, tiny_runs[task].photo, "--out", tmp_path / "a")
    assert code == 2 and "does not match the SHA-256 digest" in line
    digest_path(model).unlink()
    code, line = _main(capsys, "predict", model, tiny_runs[task].photo, "--out", tmp_path / "b")
    assert code == 2 and f"{model} {message}" in line
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    ("task", "calib", "message"),
    [
        ("classify", "detect", "holds photos with box annotations (detection data)"),
        ("classify", "segment", "holds segmentation images and masks"),
        ("segment", "detect", "labels holds box annotations (.txt files), not masks: detection data"),
        ("segment", "digits", "digits is not one (class folders and digits are classification's)"),
        ("segment", "masks", "masks is not one (class folders and digits are classification's)"),
        ("detect", "segment", "shapes is not one (it holds image/mask folders, segmentation's)"),
        ("detect", "digits", "digits is not one (the embedded digits are classification's)"),
        ("detect", "masks", "masks is not one (it holds no box annotations; class folders are classification's)"),
    ],
)
def test_quantize_refuses_the_other_tasks_data(tiny_runs, task, calib, message, tmp_path, capsys):
    """Found: a segmentation export quantized on classification images reported "top-1 agreement
    100 %", and a classification export calibrated on mask PNGs."""
    model = tmp_path / "m.onnx"
    assert _main(capsys, "export", tiny_runs[task].checkpoint, "--out", model)[0] == 0
    before = _bytes(tmp_path)
    data = {
        "detect": tiny_runs["detect"].data,
        "segment": tiny_runs["segment"].data,
        "masks": tiny_runs["segment"].data / "train" / "masks",
        "digits": "digits",
    }[calib]
    code, line = _main(capsys, "quantize", model, "--calib", data, "--out", tmp_path / "m.int8.onnx")
    assert code == 1 and message in line
    assert _bytes(tmp_path) == before  # no int8 file, no digest


@pytest.mark.skipif(not available("openvino"), reason="OpenVINO not installed (pip install 'lucid[deploy]')")
@pytest.mark.parametrize("task", ["segment", "detect"])
def test_every_tasks_openvino_ir_without_its_bin_is_named(tiny_runs, task, tmp_path, capsys):
    xml = tmp_path / "m.xml"
    assert _main(capsys, "export", tiny_runs[task].checkpoint, "--format", "openvino", "--out", xml)[0] == 0
    xml.with_suffix(".bin").unlink()
    for sidecar in tmp_path.glob("m.*.sha256"):
        sidecar.unlink()
    code, line = _main(capsys, "predict", xml, tiny_runs[task].photo, "--out", tmp_path / "out")
    assert code == 2 and f"{xml}: its weights file m.bin is missing" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("task", "flags", "pattern"),
    [
        (
            "classify",
            ["--image-size", "0"],
            r"image_size must be a whole number of pixels 1..4096 a side \(--image-size\), got 0$",
        ),
        (
            "segment",
            ["--image-size", "0"],
            r"image_size must be a whole number of pixels 1..4096 a side \(--image-size\), got 0$",
        ),
        (
            "detect",
            ["--image-size", "0"],
            r"image_size must be a whole number of pixels 1..4096 a side \(--image-size\), got 0$",
        ),
        ("detect", ["--image-size", "64"], r"takes 320x320 input .*got --image-size 64$"),
        ("segment", ["--image-size", "100000"], r"pixels 1..4096 a side \(--image-size\), got 100000$"),
        ("detect", ["--image-size", "100000"], r"pixels 1..4096 a side \(--image-size\), got 100000$"),
        ("segment", ["--data", "DATA"], r"--data applies to --format all"),
        ("detect", ["--data", "DATA"], r"--data applies to --format all"),
        ("segment", ["--dynamo"], r"the dynamo exporter cannot; drop --dynamo"),
    ],
)
def test_every_tasks_export_refuses_sizes_and_flags_it_cannot_use(tiny_runs, task, flags, pattern, tmp_path, capsys):
    """Found: export's --image-size 0 and 100000 (up to 120 GB), and flags a segmentation export
    ignored; each is one line, and nothing is written."""
    import re

    flags = [str(tiny_runs[task].data) if flag == "DATA" else flag for flag in flags]
    code, line = _main(capsys, "export", tiny_runs[task].checkpoint, "--out", tmp_path / "m.onnx", *flags)
    assert code == 2 and re.search(pattern, line), line
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_detection_export_reads_the_odd_photos_as_the_checkpoint_does(tiny_runs, tmp_path, capsys):
    """One image path for every runtime, detection too: a photo with EXIF orientation 6, a 16-bit
    grey PNG and a half-transparent PNG give the checkpoint's detections through ONNX Runtime."""
    import json

    from PIL import Image

    run = tiny_runs["detect"]
    with Image.open(run.photo) as opened:
        photo = opened.convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned; shown upright
    photo.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "turned.jpg", exif=exif.tobytes(), quality=95)
    Image.fromarray(np.asarray(photo.convert("L")).astype(np.uint16) * 257).save(tmp_path / "grey16.png")
    rgba = np.asarray(photo.convert("RGBA")).copy()
    rgba[..., 3] = 128
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    photos = [tmp_path / name for name in ("turned.jpg", "grey16.png", "alpha.png")]
    model = tmp_path / "m.onnx"
    assert _main(capsys, "export", run.checkpoint, "--out", model)[0] == 0
    found = {}
    for source, out in ((run.checkpoint, "eager"), (model, "onnx")):
        # --tta none: the checkpoint's recorded test-time flip would run two passes, the export runs one.
        flags = ("--out", tmp_path / out, "--score-threshold", "0.3", "--tta", "none")
        assert _main(capsys, "predict", source, *photos, *flags)[0] == 0
        found[out] = json.loads((tmp_path / out / "detections.json").read_text())["images"]
    assert [r["image"] for r in found["eager"]] == [r["image"] for r in found["onnx"]] == list(map(str, photos))
    for eager, exported in zip(found["eager"], found["onnx"], strict=True):
        assert eager["detections"], eager["image"]
        assert sorted(d["label"] for d in eager["detections"]) == sorted(d["label"] for d in exported["detections"])
        # Matched as sets: this barely trained detector gives some boxes the same score, and
        # tied detections may come in either order from the two runtimes.
        unmatched = list(exported["detections"])
        for mine in eager["detections"]:
            twin = next(
                (
                    theirs
                    for theirs in unmatched
                    if theirs["label"] == mine["label"]
                    and abs(mine["score"] - theirs["score"]) < 1e-3
                    and np.abs(np.subtract(mine["box"], theirs["box"])).max() < 0.5
                ),
                None,
            )
            assert twin is not None, (eager["image"], mine, exported["detections"])
            unmatched.remove(twin)
    turned = found["eager"][0]["detections"]
    assert max(d["box"][2] for d in turned) <= 64 and max(d["box"][3] for d in turned) <= 48  # upright: 64x48


def test_a_checkpoint_without_class_names_and_its_export_give_the_same_labels(tmp_path: Path) -> None:
    """Found: a checkpoint without class names printed ``class 8`` and its ONNX export ``8``;
    every runtime now labels output N ``class N``, as the checkpoint does."""
    import lucid
    from lucid.models import mobilenet_v3_small
    from lucid.train import predict
    from reference_helpers import randomise_batchnorm

    torch.manual_seed(0)
    model = randomise_batchnorm(mobilenet_v3_small(num_classes=10, in_channels=1), weights=True)
    bare = lucid.save(model, tmp_path / "bare.safetensors")  # outputs that differ: a ranking, not noise
    exported = export(bare, tmp_path / "bare.onnx").path  # the checkpoint's own preprocessing
    photo = str(tmp_path / "d.png")
    Image.new("L", (40, 40), 90).save(photo)
    eager = predict(str(bare), [photo], topk=3)[0]
    onnx = Predictor(exported, backend="onnxruntime").predict(photo, topk=3)[0]
    assert [label for label, _ in onnx] == [label for label, _ in eager]
    assert all(label.startswith("class ") for label, _ in onnx)
    assert eager[0][1] - eager[1][1] > 1e-3  # the first label is not a tie


@pytest.mark.parametrize("fmt", ["onnx", "openvino", pytest.param("executorch", marks=pytest.mark.slow)])  # 17 s
def test_an_export_without_its_suffix_is_recognised_by_its_content(tiny_runs, fmt, tmp_path, capsys):
    """``lucid predict FILE photo`` with an export whose suffix was lost names what the file is
    and the name it needs, instead of "not a readable PyTorch checkpoint"."""
    from lucid.deploy.runtime import available, sniff_export

    suffix = {"onnx": ".onnx", "openvino": ".xml", "executorch": ".pte"}[fmt]
    if not available({"onnx": "onnxruntime", "openvino": "openvino", "executorch": "executorch"}[fmt]):
        pytest.skip(f"{fmt} not installed")
    model = tmp_path / f"m{suffix}"
    assert _main(capsys, "export", tiny_runs["classify"].checkpoint, "--format", fmt, "--out", model)[0] == 0
    bare = tmp_path / "model"
    bare.write_bytes(model.read_bytes())
    assert sniff_export(bare) == suffix and sniff_export(tiny_runs["classify"].checkpoint) is None
    code, line = _main(capsys, "predict", bare, tiny_runs["classify"].photo, "--out", tmp_path / "out")
    assert code == 2 and line.endswith(
        f"is an exported model by its content ({suffix}) without its suffix; "
        f"the runtimes choose by suffix: rename it model{suffix}"
    )
    assert not (tmp_path / "out").exists()
