"""Detection on the one engine: lucid train/eval/predict on generated box data, exact resume,
the run's mAP equal to lucid eval's, and the other tasks' flags refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import lucid.models as lm
from drawing_helpers import boxes_folder
from lucid.cli import main
from lucid.detect import DetectConfig, evaluate_detection
from lucid.train import train

# One thread: the runs these tests compare give the same numbers on every machine and load.
pytestmark = pytest.mark.usefixtures("one_thread")

TIMING = ("seconds", "train_images_per_second")


def _config(data: Path, out: Path, **changes) -> DetectConfig:
    # workers=0: loader processes forked from a pytest process that holds ONNX Runtime's and
    # OpenVINO's threads aborted twice in their shutdown (a multiprocessing semaphore).
    settings = dict(
        data=str(data),
        model="ssdlite320_mobilenet_v3_small",
        batch_size=4,
        epochs=2,
        workers=0,
        out=str(out),
        progress=False,
    )
    return DetectConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = boxes_folder(tmp_path_factory.mktemp("data") / "shapes")
    return data, train(_config(data, tmp_path_factory.mktemp("runs") / "run"))


def test_a_run_writes_the_detection_scores_and_eval_rescores_them(run):
    data, result = run
    lines = [json.loads(line) for line in (result.out_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    assert all(0 <= r["val_map"] <= r["val_map50"] <= 1 for r in lines)
    assert set(lines[-1]["val_per_class_ap"]) == {"box", "blob"}
    summary = json.loads((result.out_dir / "summary.json").read_text())
    assert summary["task"] == "detect" and summary["status"] == "finished" and "best_val_map" in summary
    # The recorded data and split; the epochs are validated in one pass (the flip scores the best at the end).
    scored = evaluate_detection(result.out_dir / "last.safetensors", tta="none")
    assert scored.images == summary["data"]["val_images"]
    assert scored.map == pytest.approx(lines[-1]["val_map"], abs=1e-9)
    assert scored.map50 == pytest.approx(lines[-1]["val_map50"], abs=1e-9)


@pytest.mark.parametrize(("tta", "passes", "batch"), [("none", 1, 4), ("flip", 2, 1)])
def test_validation_runs_the_network_once_per_batch_for_the_loss_and_the_boxes(run, tta, passes, batch):
    """The task's validate repeats the run's last epoch (its SSD loss and mAP) with one pass of
    the backbone per batch for both the loss and the boxes; the test-time flip adds the mirror's pass
    (and one single-photo pass that pairs each default box with its mirror)."""
    from lucid.detect import DetectTask, detection_collate
    from lucid.detect.infer import load_detector

    data, result = run
    task = DetectTask(_config(data, result.out_dir))
    val = task.build_data(0, 1).val
    # Batch 4 is the run's (the loss is a mean per batch); batch 1 gives the flip several batches.
    loader = torch.utils.data.DataLoader(val, batch_size=batch, collate_fn=detection_collate)
    model = load_detector(result.out_dir / "last.safetensors")
    assert len(loader) >= 2 or tta == "none"  # several batches: the flip pairs the default boxes once
    calls = []
    model.backbone.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    scores = task.validate(model, loader, torch.device("cpu"), channels_last=False, tta=tta)
    batches = len(loader)
    assert len(calls) == passes * batches + (passes - 1)
    if tta == "none":
        last = json.loads((result.out_dir / "metrics.jsonl").read_text().splitlines()[-1])
        assert scores["loss"] == pytest.approx(last["val_loss"], rel=1e-5)
        assert scores["val_map"] == pytest.approx(last["val_map"], abs=1e-9)
        assert scores["val_map50"] == pytest.approx(last["val_map50"], abs=1e-9)
    else:
        assert scores["val_map"] == pytest.approx(evaluate_detection(model, data, tta="flip").map, abs=1e-9)


def test_default_boxes_are_fitted_to_the_training_boxes_and_travel_with_the_checkpoint(run):
    """From scratch, the default boxes' scales come from the training boxes (the 5th percentile
    of their sides, 1.5x the 99th); the checkpoint records them, and every reload (eval, export,
    fine-tuning) builds the same default boxes."""
    from lucid.detect.infer import load_detector
    from lucid.models.ssdlite import ANCHOR_SCALES, fit_anchor_scales

    assert fit_anchor_scales(torch.tensor([])) == ANCHOR_SCALES
    assert fit_anchor_scales(torch.full((50,), 0.5)) == (0.2, 0.75)  # large boxes: torchvision's smallest
    assert fit_anchor_scales(torch.full((50,), 0.06)) == (0.06, 0.18)  # small boxes: smaller default boxes
    assert fit_anchor_scales(torch.full((50,), 0.001)) == (0.04, 0.12)  # bounded below
    data, result = run
    model = load_detector(result.out_dir / "best.safetensors")
    recorded = tuple(model.checkpoint_extra["anchor_scales"])
    assert model.anchor_scales == recorded and recorded != ANCHOR_SCALES
    with pytest.raises(ValueError, match="the weights were trained with"):
        lm.ssdlite320_mobilenet_v3_small(weights=str(result.out_dir / "best.safetensors"), anchor_scales=(0.2, 0.9))


def test_resume_equals_the_uninterrupted_run(run, tmp_path, monkeypatch):
    """A run stopped (Ctrl-C) after its first committed epoch resumes to the uninterrupted run's numbers."""
    import lucid.train.engine as engine

    data, result = run
    say = engine._say

    def stop_after_epoch_1(ctx, message):
        say(ctx, message)
        if message.startswith("epoch   1/2"):
            raise KeyboardInterrupt

    monkeypatch.setattr(engine, "_say", stop_after_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        train(_config(data, tmp_path / "one"))
    monkeypatch.setattr(engine, "_say", say)
    assert json.loads((tmp_path / "one" / "summary.json").read_text())["status"] == "interrupted"
    resumed = train(DetectConfig(resume=str(tmp_path / "one"), progress=False))

    def scores(history):
        return [{k: v for k, v in r.items() if k not in TIMING} for r in history]

    assert scores(resumed.history) == scores(result.history)


def test_the_cli_trains_evaluates_and_draws_boxes(run, tmp_path, capsys):
    data, result = run
    assert main(["eval", str(result.best_checkpoint), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["classes"] == ["box", "blob"] and report["images"] == result.summary["data"]["val_images"]
    # --batch-size is the user's (it was capped at 32 without a word) and does not move the score.
    assert main(["eval", str(result.best_checkpoint), "--json", "--batch-size", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["map"] == pytest.approx(report["map"], abs=1e-9)
    assert main(["eval", str(result.best_checkpoint), "--batch-size", "0"]) == 2
    assert "--batch-size must be positive, got 0" in capsys.readouterr().err
    out = tmp_path / "pred"
    photo = data / "images" / "p00.jpg"
    assert main(["predict", str(result.best_checkpoint), str(photo), "--out", str(out), "--score-threshold", "0"]) == 0
    assert (out / "p00.boxes.png").is_file()
    records = json.loads((out / "detections.json").read_text())["images"]
    assert records[0]["image"] == str(photo) and records[0]["detections"]
    assert {d["label"] for d in records[0]["detections"]} <= {"box", "blob"}
    capsys.readouterr()
    assert main(["eval", str(result.best_checkpoint), "--confusion", str(tmp_path / "c.png")]) == 2
    assert "--confusion: a detection eval has no confusion matrix" in capsys.readouterr().err


def test_lucid_train_finds_the_detection_layout_without_task(tmp_path, capsys):
    data = boxes_folder(tmp_path / "yolo", count=8)
    code = main(
        [
            "train",
            "--data",
            str(data),
            "--model",
            "ssdlite320_mobilenet_v3_small",
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--workers",
            "0",  # as _config: no loader processes forked in the pytest process
            "--out",
            str(tmp_path / "r"),
            "--no-progress",
        ]
    )
    assert code == 0  # the task of --model
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["task"] == "detect"
    capsys.readouterr()
    from argparse import Namespace

    from lucid.cli.train import chosen_task

    assert chosen_task(Namespace(data=str(data))) == "detect"  # the task of the data's layout
    assert "training detection (--task detect)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--crop-size", "32"], "--crop-size: segment flag"),
        (["--label-smoothing", "0.1"], "--label-smoothing: classify flag"),
    ],
)
def test_other_tasks_flags_are_refused(tmp_path, capsys, flags, message):
    data = boxes_folder(tmp_path / "d", count=4)
    assert main(["train", "--task", "detect", "--data", str(data), *flags]) == 2
    assert message in capsys.readouterr().err


def test_resuming_another_tasks_run_is_refused(run, tmp_path):
    from lucid.errors import RunFolderError
    from lucid.segment import SegmentConfig

    _, result = run
    copy = tmp_path / "copy"
    shutil.copytree(result.out_dir, copy)
    with pytest.raises(RunFolderError, match="is a detect run, not a segment run; resume it with --task detect"):
        train(SegmentConfig(resume=str(copy)))


def test_min_negatives_reaches_the_model_and_is_checked(tmp_path, capsys):
    from lucid.detect import DetectTask

    data = boxes_folder(tmp_path / "d", count=4)
    task = DetectTask(_config(data, tmp_path / "r", min_negatives=8))
    assert task.build_model(task.build_data(0, 1)).min_negatives == 8
    with pytest.raises(ValueError, match=r"min_negatives must be a whole number >= 0 \(--min-negatives\), got -3"):
        _config(data, tmp_path / "r", min_negatives=-3)
    assert main(["train", "--task", "classify", "--min-negatives", "8"]) == 2
    assert "--min-negatives: detect flag" in capsys.readouterr().err


def test_workers_0_reads_a_streamed_set_in_the_training_process(tmp_path, capsys):
    data = boxes_folder(tmp_path / "d", count=8)
    train(_config(data, tmp_path / "r", epochs=1, workers=0, memory_budget=0.0))
    out = capsys.readouterr().out
    assert "photos streamed from disk (decoded 0 MiB would exceed the 0 MiB memory budget" in out
    assert "data read in the training process" in out and "loader workers" not in out


def test_a_run_decodes_its_photos_once_when_they_fit(tmp_path, capsys):
    data = boxes_folder(tmp_path / "d", count=8)
    result = train(_config(data, tmp_path / "r", epochs=1, workers=0, limit_train=5))
    out = capsys.readouterr().out
    assert "photos decoded once into memory (0 MiB of a" in out
    assert "data decoded once and kept in memory, augmented per image in the training process" in out
    assert result.epochs == 1


def test_photos_decoded_once_give_the_streamed_items(tmp_path):
    from lucid.detect import detection_datasets

    data = boxes_folder(tmp_path / "d", count=8)
    train_set, val_set, _ = detection_datasets(data, image_size=64)
    streamed = []
    for index in range(4):
        torch.manual_seed(index)  # the SSD augmentation draws from torch's global generator
        streamed.append((train_set[index], val_set[index % len(val_set)]))
    train_set.keep_decoded([0, 1, 2, 3], progress=False)
    val_set.keep_decoded(range(len(val_set)), progress=False)
    assert sorted(train_set.decoded) == [0, 1, 2, 3]
    for _ in range(2):  # twice: augmenting a kept photo must leave it as it was
        for index, expected in enumerate(streamed):
            torch.manual_seed(index)
            for (image, target), (want, wanted) in zip(
                (train_set[index], val_set[index % len(val_set)]), expected, strict=True
            ):
                assert torch.equal(image, want)
                assert torch.equal(target["boxes"], wanted["boxes"]) and torch.equal(target["labels"], wanted["labels"])


def test_decoding_once_names_the_photo_that_does_not_read(tmp_path):
    from lucid.detect import detection_datasets
    from lucid.errors import DataError

    data = boxes_folder(tmp_path / "d", count=8)
    broken = data / "images" / "p03.jpg"
    broken.write_bytes(broken.read_bytes()[:-120])  # the header reads, the pixels do not
    train_set, val_set, _ = detection_datasets(data, image_size=64)
    sets = [s for s in (train_set, val_set) if any(Path(r.image).name == broken.name for r in s.records)]
    with pytest.raises(DataError, match=r"^1 photo\(s\) could not be read: .*p03\.jpg: cannot decode the image"):
        sets[0].keep_decoded(range(len(sets[0])), progress=False, workers=0)
    assert sets[0].decoded == {}  # nothing half-kept


def _large_photos(root: Path) -> Path:
    """A YOLO folder (train/ + val/) of 1200x900 photos with two boxes each: JPEGs, and one PNG in train/."""
    from PIL import Image

    scene = Image.radial_gradient("L").resize((1200, 900)).convert("RGB")
    for split, names in (("train", ["a.jpg", "b.png"]), ("val", ["c.jpg", "d.jpg"])):
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        for name in names:
            scene.save(root / split / "images" / name, quality=90)
            (root / split / "labels" / f"{Path(name).stem}.txt").write_text("0 0.3 0.4 0.1 0.2\n0 0.7 0.6 0.2 0.1\n")
    (root / "classes.txt").write_text("cell\n")
    return root


def test_kept_photos_are_counted_at_the_size_they_are_kept(tmp_path):
    """The memory budget counts what is kept: a large training JPEG at its reduced decoding (the
    IoU crop's needs, `decode_side`), a PNG whole, and validation photos larger than the input
    already resized to it, whose items are those of the streamed photos."""
    from lucid.detect import detection_datasets

    train_set, val_set, _ = detection_datasets(_large_photos(tmp_path / "d"), image_size=64)
    jpeg, png = (next(i for i, r in enumerate(train_set.records) if r.image.suffix == end) for end in (".jpg", ".png"))
    assert train_set.decode_side == 214  # 64 / 0.3: a 900-pixel side decodes at a quarter
    assert train_set.decoded_bytes([jpeg]) == 3 * 300 * 225 and train_set.decoded_bytes([png]) == 3 * 1200 * 900
    assert val_set.decoded_bytes(range(2)) == 2 * 3 * 64 * 64
    streamed = [val_set[i] for i in range(2)]
    train_set.keep_decoded(range(2), progress=False, workers=0)
    val_set.keep_decoded(range(2), progress=False, workers=0)
    assert sum(image.numel() for image, _, _ in train_set.decoded.values()) == train_set.decoded_bytes(range(2))
    assert sum(image.numel() for image, _, _ in val_set.decoded.values()) == val_set.decoded_bytes(range(2))
    assert val_set.transformed == {0, 1} and not train_set.transformed
    for index, (want, wanted) in enumerate(streamed):
        image, target = val_set[index]
        assert torch.equal(image, want) and torch.equal(target["boxes"], wanted["boxes"])
        assert torch.equal(target["labels"], wanted["labels"]) and target["orig_size"] == wanted["orig_size"] == (
            900,
            1200,
        )


@pytest.mark.slow  # ~13 s; classification's DDP run stays in the default suite
def test_ddp_two_processes_gather_the_whole_validation_split(tmp_path):
    """torchrun, 2 CPU processes (gloo): every process's detections are gathered, so the epoch's mAP
    is the whole validation split's; and DDP does not warn about the depthwise weights' strides."""
    import os
    import socket
    import subprocess
    import sys

    data = boxes_folder(tmp_path / "shapes", count=16)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1"]
    command += ["--master-port", str(port), "-m", "lucid", "train", "--task", "detect", "--data", str(data)]
    command += ["--model", "ssdlite320_mobilenet_v3_small", "--epochs", "1", "--batch-size", "2", "--no-progress"]
    done = subprocess.run(
        [*command, "--out", str(out)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Grad strides do not match" not in done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["status"] == "finished"
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    whole = evaluate_detection(out / "last.safetensors", tta="none")  # the epoch: one pass
    assert whole.images == summary["data"]["val_images"]
    assert whole.map == pytest.approx(record["val_map"], abs=1e-9)
    assert whole.map50 == pytest.approx(record["val_map50"], abs=1e-9)
    best = evaluate_detection(out / "best.safetensors")  # scored with the flip at the end, on both processes
    assert best.tta == "flip" and best.map == pytest.approx(summary["best_val_map"], abs=1e-9)
