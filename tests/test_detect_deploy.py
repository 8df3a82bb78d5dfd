"""Detection deployment: the exported SSDLite is forward_raw (boxes and scores, no NMS), verified on
every output; NMS runs on the host in the task's postprocess, so exported detections are eager
eval's; Predictor, lucid predict, lucid export and lucid quantize of a detection export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from drawing_helpers import boxes_folder
from lucid.cli import main
from lucid.deploy import Predictor, VerificationError, export, quantize
from lucid.deploy.runtime import OnnxRuntimeModel, available
from lucid.deploy.score import evaluate_file
from lucid.detect import DetectConfig
from lucid.detect.infer import load_detector
from lucid.errors import DataError
from lucid.preprocessing import read_image
from lucid.tasks import get_task
from lucid.train import train

# One thread: the runs these tests compare give the same numbers on every machine and load.
pytestmark = pytest.mark.usefixtures("one_thread")

# Every output of the file within this share of that output's largest |value| (export's default rtol).
RTOL = 1e-4


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = boxes_folder(tmp_path_factory.mktemp("data") / "shapes", count=10)
    config = DetectConfig(
        data=str(data),
        model="ssdlite320_mobilenet_v3_small",
        batch_size=4,
        epochs=1,
        workers=0,  # no loader processes forked from a process that holds the runtimes' threads
        out=str(tmp_path_factory.mktemp("runs") / "run"),
        progress=False,
    )
    result = train(config)
    return data, Path(result.out_dir) / "best.safetensors"


@pytest.fixture(scope="module")
def onnx_file(run, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "det.onnx"
    export(run[1], out, "onnx")
    return out


def _photos(data: Path, count: int = 2) -> list[str]:
    return [str(p) for p in sorted((data / "images").glob("*.jpg"))[:count]]


def test_the_export_records_the_detection_task_and_verifies_every_output(run, onnx_file):
    result = export(run[1], onnx_file.with_name("again.onnx"), "onnx")
    assert result.task == "detect" and result.max_rel_diff <= RTOL
    meta = result.metadata
    assert json.loads(meta["classes"]) == ["__background__", "box", "blob"]
    assert json.loads(meta["image_size"]) == [320, 320] and json.loads(meta["mean"]) == [0.5, 0.5, 0.5]
    assert {"score_threshold", "nms_threshold", "topk_candidates", "detections_per_image"} <= set(meta)
    runtime = OnnxRuntimeModel(onnx_file)
    outputs = runtime.run_all(np.zeros((1, 3, 320, 320), np.float32))
    assert [o.shape[-1] for o in outputs] == [4, 3] and outputs[0].shape[:2] == outputs[1].shape[:2]
    assert np.array_equal(runtime.run(np.zeros((1, 3, 320, 320), np.float32)), outputs[0])  # run: the first


def test_verification_compares_the_second_output_too(run, tmp_path, monkeypatch):
    import importlib

    export_module = importlib.import_module(
        "lucid.deploy.export"
    )  # the module (lucid.deploy.export is also the function)
    real = export_module._onnx_runner

    def spoiled(path):
        run_file = real(path)
        return lambda x: [out + (0.05 if index == 1 else 0.0) for index, out in enumerate(run_file(x))]

    monkeypatch.setattr(export_module, "_onnx_runner", spoiled)
    with pytest.raises(VerificationError, match="output 1"):
        export(run[1], tmp_path / "bad.onnx", "onnx")
    assert not (tmp_path / "bad.onnx").exists()


def test_host_nms_of_the_raw_outputs_is_eager_eval_exactly(run, onnx_file):
    data, checkpoint = run
    model = load_detector(checkpoint)
    photos = _photos(data)
    predictor = Predictor(onnx_file, backend="onnxruntime")
    pixels = [read_image(p).float() / 255 for p in photos]
    with torch.no_grad():
        eager = model(pixels)
        batch, sizes = model.preprocess(pixels)
        raw = model.forward_raw(batch)
    task = get_task("detect")
    prepared = task.prepare_batches(photos, predictor.preprocessing, predictor.input_shape)
    # the model's own resize and normalisation, in the other order: equal to float rounding
    np.testing.assert_allclose(np.concatenate([b for b, _ in prepared]), batch.numpy(), rtol=0, atol=1e-5)
    floats = task.prepare_batches(pixels, predictor.preprocessing, predictor.input_shape)
    np.testing.assert_allclose(np.concatenate([b for b, _ in floats]), batch.numpy(), rtol=0, atol=1e-5)
    assert [o["sizes"][0] for _, o in prepared] == sizes == [(48, 64), (48, 64)]
    hosted = task.postprocess([raw[0].numpy(), raw[1].numpy()], predictor.metadata, sizes=sizes)
    for mine, theirs in zip(hosted, eager, strict=True):
        for key in ("boxes", "scores", "labels"):
            assert torch.equal(mine[key], theirs[key])
    exported = predictor.runtime.run_all(batch.numpy())
    for got, expected in zip(exported, raw, strict=True):
        assert np.abs(got - expected.numpy()).max() <= RTOL * np.abs(expected.numpy()).max()


def test_predictor_returns_torchvision_dicts_in_the_photos_pixels(run, onnx_file):
    data, _ = run
    predictor = Predictor(onnx_file, backend="onnxruntime")
    assert predictor.task == "detect" and predictor.num_classes == 3
    found = predictor.predict(_photos(data), score_threshold=0.0)
    assert len(found) == 2
    for detection in found:
        assert set(detection) == {"boxes", "scores", "labels", "names"}
        assert detection["boxes"].shape[-1] == 4 and detection["labels"].dtype == torch.int64
        assert float(detection["boxes"][:, 2].max()) <= 64 and float(detection["boxes"][:, 3].max()) <= 48
        assert set(detection["names"]) <= {"box", "blob"}
    kept = predictor.predict(_photos(data, 1), score_threshold=0.9)[0]
    assert bool((kept["scores"] >= 0.9).all())
    with pytest.raises(ValueError, match="score_threshold"):
        predictor.predict(_photos(data, 1), score_threshold=2.0)
    with pytest.raises(DataError, match=r"\(H, W, 3\)"):
        predictor.predict(np.zeros((4, 5), np.uint8))


@pytest.mark.skipif(not available("openvino"), reason="needs openvino")
def test_openvino_export_runs_both_outputs(run, tmp_path, onnx_file):
    result = export(run[1], tmp_path / "det.xml", "openvino")
    assert result.max_rel_diff <= RTOL
    batch = np.random.default_rng(0).standard_normal((1, 3, 320, 320)).astype(np.float32)
    ov = Predictor(tmp_path / "det.xml").runtime.run_all(batch)
    ort = OnnxRuntimeModel(onnx_file).run_all(batch)
    assert len(ov) == 2
    for a, b in zip(ov, ort, strict=True):
        assert np.abs(a - b).max() <= 1e-3 * np.abs(b).max()


def test_lucid_predict_takes_the_export_first_and_draws_boxes(run, onnx_file, tmp_path, capsys):
    data, checkpoint = run
    photos = _photos(data)
    assert main(["predict", str(onnx_file), *photos, "--out", str(tmp_path / "x"), "--score-threshold", "0.0"]) == 0
    assert main(["predict", str(checkpoint), *photos, "--out", str(tmp_path / "c"), "--score-threshold", "0.0"]) == 0
    exported = json.loads((tmp_path / "x" / "detections.json").read_text())["images"]
    eager = json.loads((tmp_path / "c" / "detections.json").read_text())["images"]
    assert [r["image"] for r in exported] == photos and all(Path(r["drawn"]).is_file() for r in exported)
    assert set(exported[0]) == set(eager[0]) and set(exported[0]["detections"][0]) == {"label", "score", "box"}
    # --onnx stays an alias
    assert main(["predict", "--onnx", str(onnx_file), *photos, "--out", str(tmp_path / "y")]) == 0
    assert (tmp_path / "y" / "detections.json").is_file()


def test_quantize_reports_the_map_drop_on_the_recorded_split(run, onnx_file, tmp_path, capsys):
    result = quantize(onnx_file, tmp_path / "det.int8.onnx")
    assert result.metric == "mAP" and result.fp32_top1 is not None and result.int8_top1 is not None
    assert "validation photos" in result.evaluation and "training photos" in result.calibration
    assert "mAP: fp32" in result.summary() and "box agreement" in result.summary()
    assert get_task("detect").postprocess(  # the int8 file still gives detections
        Predictor(tmp_path / "det.int8.onnx").runtime.run_all(np.zeros((1, 3, 320, 320), np.float32)), {}
    )
    with pytest.raises(DataError, match="detection data folder"):
        quantize(onnx_file, tmp_path / "x.int8.onnx", "digits")


def test_lucid_eval_scores_the_exported_detector_in_its_runtime(onnx_file, capsys):
    assert main(["eval", str(onnx_file), "--backend", "onnxruntime"]) == 0
    head, score = capsys.readouterr().out.splitlines()
    assert "(detect, onnxruntime) on " in head and "validation photos" in head
    assert score.startswith("mAP ") and score.split()[1].endswith("%")


@pytest.mark.skipif(not available("nncf"), reason="needs nncf")
@pytest.mark.slow  # ~9 s of NNCF calibration for one concern: its log lines
def test_nncf_quantize_of_a_detector_keeps_the_terminal_quiet(onnx_file, tmp_path, capfd):
    result = quantize(onnx_file, tmp_path / "det.int8.xml", backend="openvino", num_calib=4)
    assert result.metric == "mAP"
    printed = capfd.readouterr()
    assert "CUDA" not in printed.out + printed.err and "Statistics collection" not in printed.out + printed.err


def test_every_bench_option_has_help_and_the_preamble_estimates_and_warns(monkeypatch):
    import argparse

    from lucid.cli.deploy import bench_preamble, register

    parsers = argparse.ArgumentParser().add_subparsers()
    register(parsers)
    bench_parser = parsers.choices["bench"]
    assert all(action.help for action in bench_parser._actions)
    args = bench_parser.parse_args(["--models", "mobilenet_v3_small", "--batch", "1", "--time-budget", "60"])
    monkeypatch.setattr("os.getloadavg", lambda: (999.0, 0.0, 0.0))
    lines = bench_preamble(args)
    assert "about 1.0 min" in lines[0] and "load average 999.0" in lines[1]
    monkeypatch.setattr("os.getloadavg", lambda: (0.0, 0.0, 0.0))
    assert len(bench_preamble(args)) == 1


@pytest.mark.slow  # ~25 s: the default suite keeps under 15 minutes on 2 cores
def test_the_deployment_matrix_measures_a_detector_on_every_output(run, tmp_path):
    """`lucid export --format all` for detection: the matrix compares all of the file's outputs
    (boxes and scores) with eager's raw outputs and scores each file by mAP on the held-out photos."""
    from lucid.deploy.matrix import export_all, format_matrix

    rows = export_all(
        run[1], tmp_path / "all", formats=["onnx", "int8"], num_calib=4, num_eval=4, latency_budget_s=0.05
    )
    eager, onnx = rows[0], next(r for r in rows if r.name == "ONNX fp32" and r.runtime == "onnxruntime")
    assert eager.metric == "mAP" and eager.top1 is not None and onnx.top1 == pytest.approx(eager.top1, abs=1e-6)
    assert onnx.agreement == 1.0 and onnx.max_abs_diff < 0.1  # box pixels (of 320) and scores, every anchor
    int8 = next(r for r in rows if r.name.startswith("ONNX int8"))
    assert int8.path is not None and int8.path.is_file() and int8.top1 is not None
    assert "| mAP |" in format_matrix(rows)
    # lucid eval FILE: the same file, runtime and photos give the matrix's score
    scored = evaluate_file(onnx.path, backend="onnxruntime", num_eval=4)
    assert (scored.task, scored.metric) == ("detect", "mAP") and 0 < scored.images <= 4
    assert scored.score == pytest.approx(onnx.top1, abs=1e-9) and "validation photos" in scored.data


def test_a_detector_trained_at_another_size_exports_at_that_size(tmp_path):
    """``--image-size`` may repeat the size the detector was trained at (its default boxes are laid
    out for it), and any other size is refused naming the trained one."""
    data = boxes_folder(tmp_path / "shapes", count=6)
    config = DetectConfig(
        data=str(data),
        model="ssdlite320_mobilenet_v3_small",
        img_size=64,
        batch_size=3,
        epochs=1,
        workers=0,
        out=str(tmp_path / "run"),
        progress=False,
    )
    checkpoint = Path(train(config).out_dir) / "best.safetensors"
    model = load_detector(checkpoint)
    result = export(checkpoint, tmp_path / "det64.onnx", "onnx", image_size=64)
    assert json.loads(result.metadata["image_size"]) == [64, 64]
    # Found: the model resized every photo to 320 whatever it was trained at, so training, eval
    # and the checkpoint ran the network at 320 while the export ran it at 64.
    photo = read_image(_photos(data, 1)[0])
    batch, _ = model.preprocess([photo.float() / 255])
    assert tuple(batch.shape[-2:]) == (64, 64)
    predictor = Predictor(result.path, backend="onnxruntime")
    ((given, _),) = predictor.task_handler.prepare_batches(photo, predictor.preprocessing, predictor.input_shape)
    torch.testing.assert_close(torch.from_numpy(given), batch, atol=1e-5, rtol=0)  # the same 64x64 input
    with torch.no_grad():
        eager = [t.numpy() for t in model.forward_raw(batch)]
    for mine, theirs in zip(predictor.runtime.run_all(given), eager, strict=True):  # boxes, scores
        np.testing.assert_allclose(np.asarray(mine), theirs, atol=1e-4 * np.abs(theirs).max(), rtol=0)
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "again.onnx"), "--image-size", "64"]) == 0
    with pytest.raises(ValueError, match=r"takes 64x64 input .* got --image-size 320"):
        export(checkpoint, tmp_path / "det320.onnx", "onnx", image_size=320)
