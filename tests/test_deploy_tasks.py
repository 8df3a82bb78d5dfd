"""One deployment path for every task: segmentation through lucid.deploy's export, quantize,
digests and Predictor, refusals of the other task's data, and atomic model + digest pairs."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from lucid.cli import main
from lucid.deploy import Predictor, export, quantize
from lucid.errors import DataError, LucidError
from lucid.segment import SegmentConfig, make_shapes_dataset
from lucid.train import train


@pytest.fixture(scope="module")
def segmented(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A one-epoch LR-ASPP run on generated shapes and its ONNX export: (data root, checkpoint, .onnx)."""
    root = make_shapes_dataset(tmp_path_factory.mktemp("data") / "shapes", train=4, val=3, size=(32, 40), seed=5)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = SegmentConfig(
            data=str(root), crop_size=(32, 32), batch_size=2, epochs=1, progress=False,
            out=str(tmp_path_factory.mktemp("runs") / "seg"),
        )  # fmt: skip
        checkpoint = Path(train(config).best_checkpoint)
    finally:
        torch.set_num_threads(threads)
    onnx_file = tmp_path_factory.mktemp("export") / "seg.onnx"
    export(checkpoint, onnx_file, image_size=(32, 40))
    return root, checkpoint, onnx_file


@pytest.fixture(scope="module")
def digits_export(trained_digits, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("digits") / "digits.onnx"
    export(trained_digits.checkpoint, target)
    return target


def _copy(files: list[Path], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(f, folder / f.name)) for f in files]


def _with_props(path: Path, **changes: str) -> None:
    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {**props, **changes})
    onnx.save(proto, str(path))


# ---------------------------------------------------------------------------------------------
# segmentation int8: calibrated on training pairs, mIoU on the validation pairs
# ---------------------------------------------------------------------------------------------


def test_segmentation_int8_onnxruntime_reports_the_miou_drop_on_the_validation_split(segmented, tmp_path):
    root, _, onnx_file = segmented
    result = quantize(onnx_file, tmp_path / "seg.int8.onnx")  # no calib: the data the export records
    assert result.metric == "mIoU" and "validation pairs" in result.evaluation and "training" in result.calibration
    assert result.num_eval == 3 and result.fp32_top1 is not None and result.int8_top1 is not None
    assert result.agreement > 0.5 and "mIoU: fp32" in result.summary()
    assert (tmp_path / "seg.int8.onnx.sha256").is_file()
    (mask,) = Predictor(result.path, threads=1, backend="onnxruntime").predict([np.zeros((20, 24, 3), np.uint8)])
    assert mask.shape == (20, 24) and mask.dtype == np.uint8


def test_segmentation_int8_openvino_from_the_cli(segmented, tmp_path, capsys):
    pytest.importorskip("nncf")
    root, _, onnx_file = segmented
    out = tmp_path / "seg.int8.xml"
    assert main(["quantize", str(onnx_file), "--backend", "openvino", "--calib", str(root), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "pixel agreement" in printed and "mIoU: fp32" in printed and "validation pairs" in printed
    assert (tmp_path / "seg.int8.xml.sha256").is_file()


def test_quantize_refuses_the_other_tasks_data(segmented, digits_export, tmp_path, capsys):
    root, _, onnx_file = segmented
    with pytest.raises(DataError, match="segmentation data folder"):
        quantize(onnx_file, tmp_path / "a.int8.onnx", "digits")
    classes = tmp_path / "classes"
    for name in ("cat", "dog"):
        _copy(sorted((root / "val" / "images").iterdir())[:1], classes / name)
    status = main(["quantize", str(onnx_file), "--calib", str(classes), "--out", str(tmp_path / "b.int8.onnx")])
    err = capsys.readouterr().err.strip()
    assert status == 1 and "segmentation data folder" in err and len(err.splitlines()) == 1
    with pytest.raises(DataError, match="holds segmentation images and masks"):
        quantize(digits_export, tmp_path / "c.int8.onnx", root)
    with pytest.raises(DataError, match="holds segmentation images and masks"):
        quantize(digits_export, tmp_path / "d.int8.onnx", root / "train" / "masks")
    assert not list(tmp_path.glob("*.int8.onnx"))


def test_export_all_without_data_scores_the_recorded_validation_split(segmented, tmp_path):
    from lucid.deploy import export_all

    _, checkpoint, _ = segmented
    said: list[str] = []
    rows = export_all(checkpoint, tmp_path, formats=["onnx"], image_size=32, latency_budget_s=0.01, log=said.append)
    assert any("validation pairs" in line for line in said), said
    assert rows[0].top1 is not None and all(row.agreement > 0.99 for row in rows if not row.skipped)


def test_lucid_eval_of_an_exported_file_gives_the_eager_score(segmented, tmp_path, capsys):
    """``lucid eval FILE.onnx`` scores the file in its runtime on the recorded validation pairs:
    the matrix's eager mIoU on the same images, and other data or checkpoint flags refused."""
    from lucid.deploy import export_all

    root, checkpoint, _ = segmented
    rows = export_all(checkpoint, tmp_path, formats=["onnx"], image_size=32, latency_budget_s=0.01)
    assert main(["eval", str(tmp_path / "best.onnx"), "--backend", "onnxruntime", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert (scored["task"], scored["metric"], scored["runtime"]) == ("segment", "mIoU", "onnxruntime")
    assert scored["images"] == 3 and scored["score"] == pytest.approx(rows[0].top1, abs=1e-6)
    assert main(["eval", str(tmp_path / "best.onnx"), "--data", "digits"]) == 2
    assert "segmentation" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "best.onnx"), "--tta", "flip"]) == 2
    assert "--tta applies to a checkpoint" in capsys.readouterr().err
    for flag in ("--batch-size", "--workers"):
        assert main(["eval", str(tmp_path / "best.onnx"), flag, "2"]) == 2
        assert f"{flag} applies to a checkpoint" in capsys.readouterr().err


def test_digits_checkpoints_still_score_the_digits_validation_split(digits_export, tmp_path):
    result = quantize(digits_export, tmp_path / "digits.int8.onnx", num_calib=32, num_eval=40)
    assert result.metric == "top-1" and "digits validation split" in result.evaluation


# ---------------------------------------------------------------------------------------------
# digests and the recorded task
# ---------------------------------------------------------------------------------------------


def test_a_task_edited_to_another_is_one_clean_line(segmented, tmp_path, capsys):
    root, _, onnx_file = segmented
    (edited,) = _copy([onnx_file, Path(str(onnx_file) + ".sha256")][:1], tmp_path)
    _copy([Path(str(onnx_file) + ".sha256")], tmp_path)
    _with_props(edited, task="classify")
    with pytest.raises(DataError, match="does not match the SHA-256"):  # the digest comes first
        Predictor(edited, backend="onnxruntime")
    Path(str(edited) + ".sha256").unlink()
    with pytest.raises(DataError, match="records task 'classify' but its output has shape"):
        Predictor(edited, backend="onnxruntime")
    image = sorted((root / "val" / "images").iterdir())[0]
    assert main(["predict", "--onnx", str(edited), str(image), "--backend", "onnxruntime"]) != 0
    err = capsys.readouterr().err.strip()
    assert "records task 'classify'" in err and len(err.splitlines()) == 1
    _with_props(edited, task="weather")
    with pytest.raises(LucidError, match="records task 'weather'"):
        Predictor(edited, backend="onnxruntime")


def test_segmentation_ir_changes_are_refused(segmented, tmp_path):
    pytest.importorskip("openvino")
    _, checkpoint, _ = segmented
    first = export(checkpoint, tmp_path / "a" / "seg.xml", format="openvino", image_size=(32, 40)).path
    from lucid.models import load_segmentation_model

    twin = load_segmentation_model(checkpoint)
    with torch.no_grad():
        next(twin.parameters()).mul_(1.01)  # another export of the same network: other weights
    other = export(twin, tmp_path / "b" / "seg.xml", format="openvino", image_size=(32, 40)).path
    assert Predictor(first).task == "segment"
    good = {p: p.read_bytes() for p in (first, first.with_suffix(".bin"))}

    def refused() -> None:
        with pytest.raises(DataError, match="does not match"):
            Predictor(first)
        for path, data in good.items():
            path.write_bytes(data)

    weights = bytearray(good[first.with_suffix(".bin")])
    weights[len(weights) // 2] ^= 0x40  # one weight tensor changed
    first.with_suffix(".bin").write_bytes(bytes(weights))
    refused()
    shutil.copy(other.with_suffix(".bin"), first.with_suffix(".bin"))  # another export's weights
    refused()
    text = good[first].decode()
    assert 'value="segment"' in text
    first.write_text(text.replace('value="segment"', 'value="classify"'))  # rt_info edited
    refused()


def test_a_failed_export_keeps_the_old_model_and_digest(segmented, tmp_path, monkeypatch):
    from lucid.deploy import VerificationError

    _, checkpoint, _ = segmented
    target = tmp_path / "seg.onnx"
    export(checkpoint, target, image_size=(32, 40))
    digest = Path(str(target) + ".sha256")
    before = (target.read_bytes(), digest.read_bytes())
    with pytest.raises(VerificationError):
        export(checkpoint, target, image_size=(24, 40), rtol=1e-30)
    assert (target.read_bytes(), digest.read_bytes()) == before

    import lucid.deploy.integrity as integrity

    def unwritable(path: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(integrity, "file_sha256", unwritable)
    with pytest.raises(OSError, match="disk full"):
        export(checkpoint, target, image_size=(24, 40))
    monkeypatch.undo()
    assert (target.read_bytes(), digest.read_bytes()) == before
    assert Predictor(target, backend="onnxruntime").preprocessing.image_size == (32, 40)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_stray_temporaries_of_a_killed_export_are_cleaned(segmented, tmp_path):
    _, checkpoint, _ = segmented
    strays = [tmp_path / ".seg.onnx.k1ll3d00.tmp", tmp_path / ".seg.onnx.sha256.abcdefgh.tmp"]
    for stray in strays:
        stray.write_bytes(b"half")
    folder = tmp_path / ".seg.zzzzzzzz.tmp"  # an IR export's temporary folder
    folder.mkdir()
    (folder / "seg.xml").write_text("half")
    keep = tmp_path / ".other.onnx.k1ll3d00.tmp"  # another file's: not this export's to remove
    keep.write_bytes(b"x")
    export(checkpoint, tmp_path / "seg.onnx", image_size=(32, 40))
    assert not any(p.exists() for p in [*strays, folder]) and keep.exists()
    if importlib.util.find_spec("openvino") is not None:
        (tmp_path / ".seg.bin.k1ll3d00.tmp").write_bytes(b"half")
        export(checkpoint, tmp_path / "seg.xml", format="openvino", image_size=(32, 40))
        assert not (tmp_path / ".seg.bin.k1ll3d00.tmp").exists()


def test_the_generic_deploy_package_imports_no_task() -> None:
    """lucid.deploy finds tasks through lucid.tasks.get_task; it imports no task module itself."""
    import subprocess
    import sys

    code = (
        "import sys, lucid.deploy, lucid.deploy.bench, lucid.deploy.matrix; "
        "print([m for m in sys.modules if m.startswith(('lucid.segment', 'lucid.classify', 'lucid.detect'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().replace("'", '"')) == []
