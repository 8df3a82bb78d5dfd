"""lucid train --task segment / lucid eval / lucid predict on a generated mask folder (a short real run)."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from lucid.cli import main
from lucid.segment import make_shapes_dataset

# One quick epoch on tiny crops: what every training run of these tests shares.
TINY_RUN = ("--crop-size", "32x32", "--batch-size", "2", "--epochs", "1", "--no-progress")


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    root = make_shapes_dataset(tmp_path_factory.mktemp("data") / "shapes", train=4, val=2, size=(32, 40), seed=3)
    out = tmp_path_factory.mktemp("runs") / "seg"
    status = main(
        [
            "train",
            "--task",
            "segment",
            "--data",
            str(root),
            "--model",
            "lraspp_mobilenet_v3_small",
            *TINY_RUN,
            "--out",
            str(out),
        ]
    )
    assert status == 0
    return root, out


def test_train_writes_segmentation_metrics(cli_run):
    _, out = cli_run
    (record,) = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"val_miou", "val_pixel_acc", "val_per_class_iou", "train_loss"} <= set(record)
    assert (out / "best.safetensors").is_file() and (out / "curves.png").is_file()


def test_the_void_value_is_said_and_followed_from_training_to_eval(tmp_path, capsys):
    """CamVid's layout (void = the value after the last class, no names, no 255): the bare command says what it
    trains and how to declare the void; with --ignore-index the checkpoint carries it to eval on a fresh split."""
    root = make_shapes_dataset(tmp_path / "shapes", train=2, val=2, size=(32, 32), seed=4)
    (root / "classes.txt").unlink()
    for path in sorted(root.glob("*/masks/*.png")):
        mask = np.array(Image.open(path))
        mask[mask == 255] = 4
        Image.fromarray(mask, mode="L").save(path)
    assert main(["train", "--task", "segment", "--data", str(root), *TINY_RUN, "--out", str(tmp_path / "a")]) == 0
    said = capsys.readouterr().out
    assert "classes 0..4 (5: every mask value but the void one); void: 255 (not in the masks)" in said
    assert "pass --ignore-index 4" in said
    args = ["train", "--task", "segment", "--data", str(root), *TINY_RUN, "--ignore-index", "4"]
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert "void: 4 (--ignore-index)" in capsys.readouterr().out
    hidden = tmp_path / "hidden"  # a held-out split laid out as val/, evaluated as the checkpoint says
    shutil.copytree(root / "val", hidden / "val")
    assert main(["eval", str(tmp_path / "b" / "best.safetensors"), "--data", str(hidden), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ignore_index"] == 4 and len(result["classes"]) == 4


def test_one_folder_of_pairs_trains_and_eval_rescores_the_same_held_out_pairs(tmp_path, capsys):
    """images/ + masks/ without splits: --val-fraction carves the validation pairs; the checkpoint records
    the split, so `lucid eval` without --data (or with the same folder) scores exactly those pairs."""
    base = make_shapes_dataset(tmp_path / "base", train=6, val=2, size=(32, 32), seed=5)
    root = tmp_path / "flat"
    for kind in ("images", "masks"):
        for file in sorted(base.glob(f"*/{kind}/*")):
            (root / kind).mkdir(parents=True, exist_ok=True)
            file.rename(root / kind / file.name)
    (base / "classes.txt").rename(root / "classes.txt")
    out = tmp_path / "run"
    args = ["train", "--task", "segment", "--data", str(root), *TINY_RUN, "--val-fraction", "0.25", "--out", str(out)]
    assert main(args) == 0
    said = capsys.readouterr().out
    assert "one folder of 8 image/mask pairs: 6 train, 2 validate (--val-fraction 0.25, seed 0)" in said
    (record,) = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for data in ([], ["--data", str(root)]):
        assert main(["eval", str(out / "last.safetensors"), *data, "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["images"] == 2 and result["miou"] == pytest.approx(record["val_miou"], abs=1e-9)
    other = tmp_path / "other"  # another folder of pairs: all of it is scored
    shutil.copytree(root, other)
    assert main(["eval", str(out / "last.safetensors"), "--data", str(other), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 8


COLOURS = {"background": (0, 0, 128), "disc": (128, 0, 0), "square": (0, 128, 0), "triangle": (128, 128, 0)}
VOID = ("Void", (0, 0, 0))


def _kaggle_camvid(tmp_path):
    """Kaggle's CamVid layout: train/ + train_labels/ (colour masks named x_L.png), val/ + val_labels/,
    and class_dict.csv (name,r,g,b) naming the colours, Void among them (the shapes' void 255 drawn in it)."""
    base = make_shapes_dataset(tmp_path / "base", train=4, val=2, size=(32, 32), seed=6)
    root = tmp_path / "kaggle"
    table = [*COLOURS.items(), VOID]
    lookup = np.zeros((256, 3), np.uint8)
    for value, (_, colour) in enumerate(table[:4]):
        lookup[value] = colour
    lookup[255] = VOID[1]
    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        (root / f"{split}_labels").mkdir()
        for image in sorted((base / split / "images").iterdir()):
            shutil.copy(image, root / split / image.name)
            grey = np.array(Image.open(base / split / "masks" / f"{image.stem}.png"))
            Image.fromarray(lookup[grey]).save(root / f"{split}_labels" / f"{image.stem}_L.png")
    rows = ["name,r,g,b"] + [f"{name},{r},{g},{b}" for name, (r, g, b) in table]
    (root / "class_dict.csv").write_text("\n".join(rows) + "\n")
    return root


def test_colour_coded_masks_train_and_evaluate_with_the_class_dict(tmp_path, capsys):
    root = _kaggle_camvid(tmp_path)
    out = tmp_path / "run"
    assert main(["train", "--task", "segment", "--data", str(root), *TINY_RUN, "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"classes 0..3 (4, from {root / 'class_dict.csv'}); void: 255" in said  # the Void row: void
    assert main(["eval", str(out / "last.safetensors"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["classes"] == list(COLOURS) and result["images"] == 2 and result["ignore_index"] == 255
    assert sum(map(sum, result["confusion"])) == result["pixels"] > 0
    image = sorted((root / "val").iterdir())[0]
    assert main(["predict", str(out / "last.safetensors"), str(image), "--out", str(tmp_path / "pred")]) == 0
    capsys.readouterr()
    mask = Image.open(tmp_path / "pred" / f"{image.stem}.mask.png")
    colours = np.array(mask.getpalette()[: 3 * 4]).reshape(4, 3)  # the predicted mask in the data's own colours
    assert mask.mode == "P" and [tuple(c) for c in colours] == list(COLOURS.values())
    # int8 calibration reads the colour-coded masks as training did (it once read them as class values)
    from types import SimpleNamespace

    from lucid.tasks import CalibrationPicks, get_task

    prep = SimpleNamespace(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), image_size=(32, 32))
    calib, scored = get_task("segment").calibration_sets(str(root), prep, {}, CalibrationPicks(4, 2, 0))
    values = set(np.unique(scored.labels).tolist())
    assert calib.images.shape == (4, 3, 32, 32) and values <= {0, 1, 2, 3, 255} and len(values) > 2
    label = sorted((root / "val_labels").iterdir())[0]
    pixels = np.array(Image.open(label))
    pixels[0, 0] = (1, 2, 3)
    Image.fromarray(pixels).save(label)
    assert main(["eval", str(out / "last.safetensors"), "--json"]) == 2
    assert (
        "1 pixels have colours that are not in the colour table (class_dict.csv, labelmap.txt or label_colors.txt) "
        "(e.g. [(1, 2, 3)])" in capsys.readouterr().err
    )
    (root / "class_dict.csv").write_text("name,r,g,b\nsky,300,0,0\n")
    assert main(["eval", str(out / "last.safetensors"), "--json"]) == 2
    assert "class_dict.csv:2: expected the columns name,r,g,b with 0..255 colours" in capsys.readouterr().err


def test_image_and_mask_folders_train_segmentation_without_task(tmp_path, capsys):
    """images/ + masks/ are not two classes: without --task the folders say segmentation, and say so."""
    root = make_shapes_dataset(tmp_path / "shapes", train=2, val=1, size=(32, 32), seed=7)
    assert main(["train", "--data", str(root), *TINY_RUN, "--out", str(tmp_path / "run")]) == 0
    said = capsys.readouterr().out
    claim = "holds images with masks (or outlines drawn into masks): training segmentation (--task segment)"
    assert f"{root} {claim}" in said
    assert "val_miou" in (tmp_path / "run" / "metrics.jsonl").read_text()
    classify = ["train", "--data", str(root), "--task", "classify", "--epochs", "1", "--img-size", "32"]
    assert main([*classify, "--no-progress", "--out", str(tmp_path / "cls")]) == 0
    assert "2 classes" in capsys.readouterr().out  # asked for: a classifier of the two folders


def test_eval_json_gives_segmentation_metrics(cli_run, capsys):
    root, out = cli_run
    capsys.readouterr()
    assert main(["eval", str(out / "best.safetensors"), "--data", str(root), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["task"] == "segment" and 0 <= result["miou"] <= 1
    assert len(result["confusion"]) == 4 and set(result["per_class_iou"]) == {
        "background",
        "disc",
        "square",
        "triangle",
    }
    assert (out / "best.confusion.png").is_file()


def test_predict_writes_mask_and_overlay(cli_run, tmp_path, capsys):
    root, out = cli_run
    image = sorted((root / "val" / "images").iterdir())[0]
    assert main(["predict", str(out / "best.safetensors"), str(image), "--out", str(tmp_path), "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    mask = Image.open(record["mask"])
    assert mask.mode == "P" and mask.size == (40, 32) and int(np.asarray(mask).max()) < 4
    assert Image.open(record["overlay"]).size == (40, 32)


def test_predict_takes_a_folder_and_refuses_images_that_would_share_a_mask_file(cli_run, tmp_path, capsys):
    root, out = cli_run
    folder = root / "val" / "images"
    assert main(["predict", str(out / "best.safetensors"), str(folder), "--out", str(tmp_path / "a"), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in records] == [str(p) for p in sorted(folder.iterdir())]
    twin = tmp_path / "twin" / sorted(folder.iterdir())[0].name  # same stem, another folder
    twin.parent.mkdir()
    shutil.copy(sorted(folder.iterdir())[0], twin)
    assert main(["predict", str(out / "best.safetensors"), str(folder), str(twin), "--out", str(tmp_path / "b")]) == 2
    assert "would both write" in capsys.readouterr().err


def test_export_routes_a_segmentation_checkpoint_and_its_masks_match(cli_run, tmp_path, capsys):
    root, out = cli_run
    onnx_file = tmp_path / "seg.onnx"
    assert main(["export", str(out / "best.safetensors"), "--out", str(onnx_file), "--image-size", "32"]) == 0
    assert "dynamic batch/height/width" in capsys.readouterr().out
    image = sorted((root / "val" / "images").iterdir())[0]
    assert main(["predict", "--onnx", str(onnx_file), str(image), "--out", str(tmp_path / "onnx"), "--json"]) == 0
    (from_file,) = json.loads(capsys.readouterr().out)
    assert main(["predict", str(out / "best.safetensors"), str(image), "--out", str(tmp_path / "eager"), "--json"]) == 0
    (eager,) = json.loads(capsys.readouterr().out)
    assert np.array_equal(np.asarray(Image.open(from_file["mask"])), np.asarray(Image.open(eager["mask"])))
    assert (tmp_path / "seg.onnx.sha256").is_file()  # every task's export gets its digest


@pytest.mark.slow  # 17 s; the segmentation ExecuTorch export is also checked in tests/test_same_input_everywhere.py
def test_segmentation_exports_to_executorch_at_a_fixed_size(cli_run, tmp_path, capsys):
    """A .pte takes one image size: predict resizes each image to it and the mask back."""
    pytest.importorskip("executorch")
    root, out = cli_run
    pte = tmp_path / "seg.pte"
    assert (
        main(
            ["export", str(out / "best.safetensors"), "--out", str(pte), "--format", "executorch", "--image-size", "32"]
        )
        == 0
    )
    assert (tmp_path / "seg.pte.sha256").is_file()
    capsys.readouterr()
    image = sorted((root / "val" / "images").iterdir())[0]
    assert main(["predict", "--onnx", str(pte), str(image), "--out", str(tmp_path / "pte"), "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert np.asarray(Image.open(record["mask"])).shape == (32, 40)


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_deploy_predictor_returns_the_masks_of_a_lucid_export(cli_run, tmp_path, capsys, fmt):
    """lucid.deploy.Predictor on `lucid export` of an LR-ASPP checkpoint: class masks equal the eager model's."""
    if fmt == "openvino":
        pytest.importorskip("openvino")
    from lucid.deploy import Predictor
    from lucid.models import load_segmentation_model
    from lucid.segment.data import read_rgb
    from lucid.segment.infer import predict_mask, segmentation_meta

    root, out = cli_run
    target = tmp_path / ("seg.onnx" if fmt == "onnx" else "seg.xml")
    args = ["export", str(out / "best.safetensors"), "--out", str(target), "--image-size", "32"]
    assert main([*args, "--format", fmt]) == 0
    capsys.readouterr()
    images = sorted((root / "val" / "images").iterdir())
    model = load_segmentation_model(out / "best.safetensors")
    has_openvino = importlib.util.find_spec("openvino") is not None
    backends = (["onnxruntime"] + ["openvino"] * has_openvino) if fmt == "onnx" else ["openvino"]
    for backend in backends:
        predictor = Predictor(target, threads=1, backend=backend)
        assert predictor.task == "segment" and predictor.classes == ["background", "disc", "square", "triangle"]
        masks = predictor.predict([str(p) for p in images])
        assert len(masks) == len(images)
        for path, mask in zip(images, masks, strict=True):
            eager = predict_mask(model, read_rgb(path), segmentation_meta(model))
            assert mask.dtype == np.uint8 and mask.shape == eager.shape == (32, 40)
            assert (mask == eager).mean() > 0.999
        (single,) = predictor.predict(str(images[0]))  # one image in: a list of one mask, as for classification
        assert np.array_equal(single, masks[0])
        with pytest.raises(Exception, match="'segment' model: predict"):
            predictor.probabilities(str(images[0]))


def test_classification_flags_are_refused_for_segmentation(tmp_path, capsys):
    root = make_shapes_dataset(tmp_path / "shapes", train=2, val=1, size=(16, 16))
    status = main(["train", "--task", "segment", "--data", str(root), "--label-smoothing", "0.1"])
    assert status != 0
    assert "--label-smoothing" in capsys.readouterr().err


@pytest.mark.slow  # ~12 s; classification's DDP run stays in the default suite
def test_ddp_two_processes_sum_disjoint_validation_shards(tmp_path):
    """torchrun, 2 CPU processes (gloo): the all-reduced confusion matrix is the whole val split's."""
    import os
    import socket
    import subprocess
    import sys

    from lucid.segment import evaluate_segmentation

    root = make_shapes_dataset(tmp_path / "shapes", train=4, val=3, size=(32, 40), seed=5)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(port),
        "-m",
        "lucid",
        "train",
        "--task",
        "segment",
        "--data",
        str(root),
        *TINY_RUN,
        "--out",
        str(out),
    ]
    done = subprocess.run(
        command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(re.findall(r"epoch +1/1 ", done.stdout)) == 1  # only rank 0 prints
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["status"] == "finished"
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    whole = evaluate_segmentation(out / "last.safetensors", root, tta="none")  # the epoch: one pass
    assert whole.miou == pytest.approx(record["val_miou"], abs=1e-9)
    assert whole.pixel_acc == pytest.approx(record["val_pixel_acc"], abs=1e-9)
    best = evaluate_segmentation(out / "best.safetensors", root)  # scored with the flip at the end, on both ranks
    assert best.tta == "flip" and best.miou == pytest.approx(summary["best_val_miou"], abs=1e-9)


def test_summary_and_mermaid_show_the_segmentation_models(capsys):
    assert main(["summary", "lraspp_mobilenet_v3_small"]) == 0
    text = capsys.readouterr().out
    assert "head.cbr.0" in text and "head.low_classifier" in text and "Total params" in text
    assert main(["mermaid", "lraspp_mobilenet_v3_small"]) == 0
    assert "flowchart" in capsys.readouterr().out


def test_the_crop_fits_photos_smaller_than_it_and_the_export_their_size(tmp_path, capsys):
    """Without --crop-size, photos smaller than 256x320 train on crops of their own median size (a
    larger crop is padding the evaluation never shows); the checkpoint records the photos' size,
    and an export with no --image-size is traced and scored at it."""
    from lucid.models import load_segmentation_model

    root = make_shapes_dataset(tmp_path / "shapes", train=4, val=2, size=(40, 56), seed=5)
    out = tmp_path / "run"
    run = ("--batch-size", "2", "--epochs", "1", "--no-progress")
    assert main(["train", "--task", "segment", "--data", str(root), *run, "--out", str(out)]) == 0
    assert "crops 32x48 (fitted to the photos' median 40x56)" in capsys.readouterr().out
    record = load_segmentation_model(out / "best.safetensors").checkpoint_extra["data"]
    assert (record["crop_size"], record["photo_size"]) == ([32, 48], [40, 56])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["crop_size"] is None  # a resumed run fits the crop again, to the same data
    assert main(["export", str(out / "best.safetensors"), "--out", str(tmp_path / "seg.onnx")]) == 0
    assert "(N, 3, 40, 56)" in capsys.readouterr().out
    assert main(["eval", str(tmp_path / "seg.onnx"), "--backend", "onnxruntime"]) == 0
    assert "2 images at 40x56" in capsys.readouterr().out
    # A crop given is the user's, even larger than the photos.
    given = tmp_path / "given"
    assert (
        main(["train", "--task", "segment", "--data", str(root), *run, "--crop-size", "64", "--out", str(given)]) == 0
    )
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("training:"))
    assert "crops 64x64," in line and "fitted" not in line


def test_photos_larger_than_the_working_side_train_and_are_scored_at_it(tmp_path, capsys, monkeypatch):
    """Photos whose median short side is above `WORKING_SIDE` (1024: camera photos) are trained
    relative to it and scored, predicted and exported with their short side resized to it; the
    masks predicted are the photos' own size. Shown at a working side of 48 on 64x80 photos.
    Under a memory budget that their full size exceeds, the training pairs are kept at the
    working side, the validation pairs too (scored as `lucid eval` streams and resizes them)."""
    import lucid.segment.data as segment_data
    from lucid.models import load_segmentation_model
    from lucid.segment import evaluate_segmentation

    monkeypatch.setattr(segment_data, "WORKING_SIDE", 48)
    root = make_shapes_dataset(tmp_path / "shapes", train=4, val=2, size=(64, 80), seed=6)
    out = tmp_path / "run"
    run = ("--batch-size", "2", "--epochs", "1", "--no-progress", "--tta", "none")
    # Full size: 4 x 64x80 x 4 bytes to train + 2 x 48x60 x 4 to validate = 104,960 bytes; with the
    # training pairs at 48x60 too, 69,120.
    budget = ("--memory-budget", f"{90_000 / 1024**3:.12f}")
    assert main(["train", "--task", "segment", "--data", str(root), *run, *budget, "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "images and masks decoded once into memory" in said
    assert "short sides stored at most 48 px for training, 48 px for validation" in said
    assert "photos resized to a short side of 48 to train and score (their median is 64x80)" in said
    assert "crops 48x64 (fitted to the photos' median 48x64)" in said
    record = load_segmentation_model(out / "last.safetensors").checkpoint_extra["data"]
    assert (record["resize_size"], record["photo_size"]) == (48, [48, 64])
    (epoch,) = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    scored = evaluate_segmentation(out / "last.safetensors")
    assert scored.miou == pytest.approx(epoch["val_miou"], abs=1e-9)
    assert 0 < scored.pixels <= 2 * 48 * 60  # the 2 masks scored at 48x60, not at their own 64x80
    image = sorted((root / "val" / "images").iterdir())[0]
    assert main(["predict", str(out / "last.safetensors"), str(image), "--out", str(tmp_path / "eager"), "--json"]) == 0
    (eager,) = json.loads(capsys.readouterr().out)
    assert np.asarray(Image.open(eager["mask"])).shape == (64, 80)
    assert main(["export", str(out / "last.safetensors"), "--out", str(tmp_path / "seg.onnx")]) == 0
    assert "(N, 3, 48, 64)" in capsys.readouterr().out
    assert main(["predict", str(tmp_path / "seg.onnx"), str(image), "--out", str(tmp_path / "onnx"), "--json"]) == 0
    (exported,) = json.loads(capsys.readouterr().out)
    assert np.array_equal(np.asarray(Image.open(exported["mask"])), np.asarray(Image.open(eager["mask"])))
