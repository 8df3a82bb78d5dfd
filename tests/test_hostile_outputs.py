"""Hardening round 2: no output overwrites an input or a file lucid did not write, no run spills
into a foreign folder, class-name files are checked, a busy machine gets fewer threads, and the
run folder is named after the data. In-process through ``lucid.cli.main`` (exit 2 and one line)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli_helpers import main_within, train_in_fresh_process
from lucid.cli import main
from lucid.errors import DataError
from lucid.segment import make_shapes_dataset
from lucid.segment.coding import read_class_names, read_colour_table, read_mask
from lucid.train import TrainConfig, train


def _error(capsys, command: str) -> str:
    return _error_line(capsys.readouterr().err, command)


def _error_line(err: str, command: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith(f"lucid {command}: ")]
    assert len(lines) == 1, lines
    return lines[0]


TASKS = ("classify", "segment", "detect")


def _main(capsys, *args: object, seconds: int = 120) -> int:
    """``lucid.cli.main`` in this process under a ``signal.alarm``, so a hang fails the test."""
    return main_within(*args, seconds=seconds)


def _digests(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a digest of its bytes: 'nothing changed' is equality."""
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "digits"
    train(TrainConfig(epochs=1, limit_train=40, limit_val=20, progress=False, out=str(out)))
    return out


def test_eval_confusion_never_overwrites_the_checkpoint(digits_run, capsys):
    checkpoint = digits_run / "best.safetensors"
    before = checkpoint.read_bytes()
    assert main(["eval", str(checkpoint), "--confusion", str(checkpoint)]) == 2
    line = _error(capsys, "eval")
    assert "--confusion" in line and "is an input of this command" in line
    assert checkpoint.read_bytes() == before


def test_eval_confusion_refuses_a_users_file_but_rewrites_its_own(digits_run, tmp_path, capsys):
    checkpoint = digits_run / "best.safetensors"
    mine = tmp_path / "holiday.png"
    Image.new("RGB", (4, 4)).save(mine)
    assert main(["eval", str(checkpoint), "--confusion", str(mine)]) == 2
    assert "was not written by lucid" in _error(capsys, "eval")
    ours = tmp_path / "confusion.png"
    assert main(["eval", str(checkpoint), "--confusion", str(ours)]) == 0
    assert main(["eval", str(checkpoint), "--confusion", str(ours)]) == 0  # lucid's own picture: written again


def test_mermaid_out_never_replaces_the_checkpoint(digits_run, tmp_path, capsys):
    copy = tmp_path / "model.safetensors"
    shutil.copy(digits_run / "best.safetensors", copy)
    before = copy.read_bytes()
    assert main(["mermaid", str(copy), "--out", str(copy)]) == 2
    assert "--out" in _error(capsys, "mermaid")
    assert copy.read_bytes() == before
    chart = tmp_path / "chart.md"
    assert main(["mermaid", str(copy), "--out", str(chart)]) == 0
    assert main(["mermaid", str(copy), "--out", str(chart)]) == 0  # its own chart: written again
    notes = tmp_path / "notes.md"
    notes.write_text("my notes\n")
    assert main(["mermaid", str(copy), "--out", str(notes)]) == 2
    assert notes.read_text() == "my notes\n"


@pytest.mark.parametrize("task", TASKS)
def test_train_refuses_the_root_and_foreign_folders(tiny_runs, task, tmp_path, capsys):
    """Found: `lucid train --task segment --out /` wrote six files into `/`."""
    flags = [*tiny_runs[task].train_flags, "--epochs", "1"]
    assert _main(capsys, "train", *flags, "--out", "/") == 2
    assert "--out / is the root folder" in _error(capsys, "train")
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("x")
    assert _main(capsys, "train", *flags, "--out", folder) == 2
    assert "holds other files (thesis.tex), so it is not a lucid run folder" in _error(capsys, "train")
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.tex"]
    data = tiny_runs[task].data
    if data is not None:  # the data folder itself
        before = _digests(data)
        assert _main(capsys, "train", *flags, "--out", data) == 2
        assert f"--out {data} holds other files" in _error(capsys, "train")
        assert _digests(data) == before


@pytest.mark.parametrize("task", ["segment", "detect"])
def test_no_output_replaces_a_segmentation_or_detection_checkpoint(tiny_runs, task, tmp_path, capsys):
    """`eval --confusion`, `mermaid --out` and `predict --out` naming the checkpoint (or a user's
    file) are refused for every task, and the files are left as they were."""
    checkpoint = tmp_path / f"{task}.safetensors"
    shutil.copy(tiny_runs[task].checkpoint, checkpoint)
    notes = tmp_path / "notes.md"
    notes.write_text("my notes\n")
    before = _digests(tmp_path)
    assert _main(capsys, "eval", checkpoint, "--confusion", checkpoint) == 2
    said = _error(capsys, "eval")
    if task == "segment":
        assert f"--confusion {checkpoint} is an input of this command" in said
    else:
        assert "--confusion: a detection eval has no confusion matrix" in said
    assert _main(capsys, "mermaid", checkpoint, "--out", checkpoint) == 2
    assert f"--out {checkpoint} is an input of this command" in _error(capsys, "mermaid")
    assert _main(capsys, "mermaid", checkpoint, "--out", notes) == 2
    assert f"--out {notes} exists and was not written by lucid" in _error(capsys, "mermaid")
    assert _main(capsys, "predict", checkpoint, tiny_runs[task].photo, "--out", checkpoint) == 2
    assert f"--out {checkpoint} is a file; name a folder" in _error(capsys, "predict")
    assert _digests(tmp_path) == before
    if task == "segment":
        mine = tmp_path / "holiday.png"
        Image.new("RGB", (4, 4)).save(mine)
        assert _main(capsys, "eval", checkpoint, "--confusion", mine) == 2
        assert f"--confusion {mine} exists and was not written by lucid" in _error(capsys, "eval")
        assert _digests(tmp_path) == {**before, "holiday.png": _digests(tmp_path)["holiday.png"]}


@pytest.mark.parametrize(
    ("task", "command", "users"),
    [
        ("classify", ["export"], "model.onnx"),
        ("segment", ["export", "--format", "openvino"], "model.bin"),
        # ~9 s each; the same guard as the exports above (an IR's .xml as its .bin), so kept out of the default suite
        pytest.param("detect", ["export", "--format", "openvino"], "model.xml", marks=pytest.mark.slow),
        pytest.param("classify", ["quantize"], "model.int8.onnx", marks=pytest.mark.slow),
    ],
)
def test_export_and_quantize_never_replace_a_users_model_file(tiny_runs, task, command, users, tmp_path, capsys):
    """Found: ``lucid export CKPT --out user.onnx`` (and quantize, and an IR's .bin) replaced a
    file lucid did not write, exit 0. Now refused by name before any work; lucid's own export
    (its digest names it) is replaced as before."""
    from lucid.deploy.integrity import check_digest

    source = tiny_runs[task].checkpoint
    if command == ["quantize"]:
        source = tmp_path / "model.onnx"
        assert _main(capsys, "export", tiny_runs[task].checkpoint, "--out", source) == 0
    target = tmp_path / ("model.xml" if "openvino" in command else users)
    (tmp_path / users).write_bytes(b"the user's own model")
    code = _main(capsys, *command[:1], source, "--out", target, *command[1:])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.endswith(
        f"{tmp_path / users} exists and was not written by lucid; choose another name or move that file"
    )
    assert (tmp_path / users).read_bytes() == b"the user's own model"
    (tmp_path / users).unlink()
    for attempt in range(2):  # lucid's own export, then again over it
        assert _main(capsys, *command[:1], source, "--out", target, *command[1:]) == 0, attempt
    assert check_digest(target, required=True)


@pytest.mark.parametrize("users", ["b.boxes.png", "detections.json"])
def test_detection_predict_never_replaces_the_users_files(tiny_runs, users, tmp_path, capsys):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    for photo in (first, second):
        shutil.copy(tiny_runs["detect"].photo, photo)
    out = tmp_path / "out"
    out.mkdir()
    (out / users).write_bytes(b"the user's own")
    assert _main(capsys, "predict", tiny_runs["detect"].checkpoint, first, second, "--out", out) == 2
    assert f"{users} exists and was not written by lucid" in _error(capsys, "predict")
    assert sorted(p.name for p in out.iterdir()) == [users] and (out / users).read_bytes() == b"the user's own"


def test_segmentation_predict_never_replaces_the_users_mask(tmp_path, capsys):
    data = make_shapes_dataset(tmp_path / "shapes", train=6, val=2, size=(32, 40))
    from lucid.segment import SegmentConfig

    result = train(
        SegmentConfig(
            data=str(data), crop_size=(32, 32), batch_size=2, epochs=1, out=str(tmp_path / "r"), progress=False
        )
    )
    gt = tmp_path / "gt"
    gt.mkdir()
    photo = gt / "street.png"
    Image.new("RGB", (40, 32), (90, 90, 90)).save(photo)
    users_mask = gt / "street.mask.png"
    Image.new("L", (40, 32), 1).save(users_mask)
    before = users_mask.read_bytes()
    assert main(["predict", str(result.best_checkpoint), str(photo), "--out", str(gt)]) == 2
    assert "street.mask.png exists and was not written by lucid" in _error(capsys, "predict")
    assert users_mask.read_bytes() == before
    out = tmp_path / "pred"
    assert main(["predict", str(result.best_checkpoint), str(photo), "--out", str(out)]) == 0
    assert main(["predict", str(result.best_checkpoint), str(photo), "--out", str(out)]) == 0  # its own files


def test_class_name_files_are_checked(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "classes.txt").write_text("road\n" * 11)
    with pytest.raises(DataError, match="class names must be distinct; repeated: road"):
        read_class_names(root)
    (root / "classes.txt").write_bytes("sky\nstra\xdfe\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"classes.txt:2: not UTF-8 text"):
        read_class_names(root)
    (root / "classes.txt").write_text("".join(f"c{i}\n" for i in range(10_000)))
    with pytest.raises(DataError, match="names 10,000 classes; 8-bit masks hold at most 255"):
        read_class_names(root)
    (root / "classes.txt").unlink()
    (root / "class_dict.csv").write_text("name,r,g,b\nsky,1,2," + "9" * 200_000 + "\n")
    with pytest.raises(DataError, match="class_dict.csv: not a readable name,r,g,b table"):
        read_colour_table(root)


@pytest.mark.parametrize(
    ("task", "names", "message"),
    [
        ("segment", "road\n" * 4, "classes.txt: class names must be distinct; repeated: road"),
        ("detect", "box\nbox\n", "classes.txt: class names must be distinct; repeated: box"),
        ("segment", "sky\nstra\xdfe\nb\nc\n", "classes.txt:2: not UTF-8 text (byte 0xdf)"),
        ("detect", "box\nstra\xdfe\n", "classes.txt:2: not UTF-8 text (byte 0xdf)"),
        ("segment", "".join(f"c{i}\n" for i in range(10_000)), "names 10,000 classes; 8-bit masks hold at most 255"),
    ],
    ids=["segment-repeated", "detect-repeated", "segment-latin-1", "detect-latin-1", "segment-10000"],
)
def test_train_and_eval_name_a_bad_class_list_and_its_file(tiny_runs, task, names, message, tmp_path, capsys):
    """Found: 11 x "road" collapsed the metrics to one class; a Latin-1 file or 10,000 names gave
    messages about something else."""
    data = tmp_path / "data"
    shutil.copytree(tiny_runs[task].data, data)
    (data / "classes.txt").write_bytes(names.encode("latin-1"))
    before = _digests(data)
    flags = [*tiny_runs[task].train_flags, "--data", data, "--epochs", "1", "--out", tmp_path / "run"]
    assert _main(capsys, "train", *flags) == 2
    assert f"{data / 'classes.txt'}" in (line := _error(capsys, "train")) and message in line
    assert _main(capsys, "eval", tiny_runs[task].checkpoint, "--data", data) == 2
    assert message in _error(capsys, "eval")
    assert not (tmp_path / "run").exists() and _digests(data) == before


def test_segmentation_eval_keeps_the_checkpoints_class_names_and_says_the_difference(tiny_runs, tmp_path, capsys):
    """Found: eval on a folder whose classes.txt differs reported the checkpoint's classes under
    the folder's names."""
    import json

    data = tmp_path / "data"
    shutil.copytree(tiny_runs["segment"].data, data)
    (data / "classes.txt").write_text("d\nc\nb\na\n")
    checkpoint = tmp_path / "seg.safetensors"
    shutil.copy(tiny_runs["segment"].checkpoint, checkpoint)
    assert _main(capsys, "eval", checkpoint, "--data", data, "--json") == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["classes"] == ["background", "disc", "square", "triangle"]
    assert list(report["per_class_iou"]) == report["classes"]
    assert "its class names differ from the checkpoint's (0: 'background' vs 'd'" in err
    assert "the checkpoint's names are used" in err


def test_a_float_mask_is_named_one_channel(tmp_path):
    path = tmp_path / "m.tif"
    Image.fromarray(np.zeros((4, 4), dtype=np.float32), mode="F").save(path)
    with pytest.raises(DataError, match="floating-point mask \\(one channel, PIL mode F\\)"):
        read_mask(path)


def test_two_images_of_one_name_are_said(tmp_path):
    from lucid.segment.data import match_pairs

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "images" / "a.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "images" / "a.jpg")
    Image.new("L", (4, 4)).save(tmp_path / "masks" / "a.png")
    with pytest.raises(DataError, match="a.jpg and a.png have one name|a.png and a.jpg have one name"):
        match_pairs(tmp_path / "images", tmp_path / "masks")
    (tmp_path / "images" / "a.jpg").unlink()
    Image.new("RGB", (4, 4)).save(tmp_path / "images" / "A.PNG")  # one name but for the letter case
    with pytest.raises(DataError, match="A.PNG and a.png have one name|a.png and A.PNG have one name"):
        match_pairs(tmp_path / "images", tmp_path / "masks")


# The thread choice is the engine's, one for every task: the other tasks' runs are in the slow suite.
@pytest.mark.parametrize("task", [TASKS[0], *(pytest.param(task, marks=pytest.mark.slow) for task in TASKS[1:])])
def test_a_busy_machine_gets_fewer_threads(tiny_runs, task, tmp_path, monkeypatch, capsys):
    """Found: torch's two OpenMP threads on two taken cores slowed an epoch 30-fold; every task
    now trains with the free cores and says so, unless OMP_NUM_THREADS or --threads chose."""
    import os

    import lucid.train.engine as engine

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(engine, "busy_cores", lambda window=0.3: float(os.cpu_count() or 1))  # every core taken
    flags = [*tiny_runs[task].train_flags, "--epochs", "1", "--workers", "0", "--no-progress"]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert _main(capsys, "train", *flags, "--out", tmp_path / "busy") == 0
        said = capsys.readouterr().out
        assert "the machine is busy" in said and "training with 1 thread instead of 2" in said
        assert torch.get_num_threads() == 2  # restored after the run
        assert _main(capsys, "train", *flags, "--threads", "2", "--out", tmp_path / "threads") == 0
        assert "the machine is busy" not in capsys.readouterr().out
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert _main(capsys, "train", *flags, "--out", tmp_path / "omp") == 0
        assert "the machine is busy" not in capsys.readouterr().out
    finally:
        torch.set_num_threads(threads)


def test_runs_are_named_after_the_data_not_a_generic_folder(tmp_path):
    from lucid.classify import ClassifyTask

    images = tmp_path / "sign-language-digits" / "images"
    images.mkdir(parents=True)
    assert ClassifyTask(TrainConfig(data=str(images))).data_name() == "sign-language-digits"
    assert ClassifyTask(TrainConfig(data=str(tmp_path / "sign-language-digits"))).data_name() == "sign-language-digits"


@pytest.mark.slow  # 17 s; the engine's path is also checked for segmentation and detection below
def test_a_photo_deleted_mid_run_is_named_and_the_run_ends_failed(tmp_path):
    import json

    data = tmp_path / "photos"
    for label in ("a", "b"):
        (data / label).mkdir(parents=True)
        for i in range(12):
            Image.new("RGB", (32, 32), (40 * i % 255, 200 if label == "a" else 30, 90)).save(data / label / f"{i}.png")
    out = tmp_path / "run"
    flags = ["--data", data, "--epochs", "3", "--memory-budget", "0", "--workers", "1", "--batch-size", "4"]
    flags += ["--img-size", "32", "--out", out, "--no-progress", "--skip-verify"]
    done = train_in_fresh_process(*flags, delete_after_epoch_1=[data / "a" / "3.png"])
    assert done.returncode == 2, done.stderr[-2000:]
    line = _error_line(done.stderr, "train")
    assert "3.png" in line and "Traceback" not in line and "DataLoader worker" in line
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and "3.png" in summary["error"]


# Each task and each loader path once by default (~8 s a case); the other two pairings under -m slow.
@pytest.mark.parametrize(
    ("workers", "task"),
    [
        ("0", "segment"),
        ("1", "detect"),
        pytest.param("1", "segment", marks=pytest.mark.slow),
        pytest.param("0", "detect", marks=pytest.mark.slow),
    ],
)
def test_a_photo_deleted_mid_run_is_named_and_the_run_ends_failed_for_every_task(tiny_runs, task, workers, tmp_path):
    """As in classification: the deleted photo is named in one line (from a DataLoader worker
    too) and summary.json ends "failed", not "running"."""
    import json

    data = tmp_path / "data"
    shutil.copytree(tiny_runs[task].data, data)
    photos = sorted((data / "train" / "images").iterdir()) if task == "segment" else sorted((data / "images").iterdir())
    # every training photo goes: whichever the split put in training is missed (read from disk each
    # epoch: --memory-budget 0, since photos decoded once into memory are not read again)
    out = tmp_path / "run"
    flags = [*tiny_runs[task].train_flags, "--data", data, "--epochs", "3", "--workers", workers, "--no-progress"]
    flags += ["--memory-budget", "0"]
    done = train_in_fresh_process(*flags, "--out", out, delete_after_epoch_1=photos)
    assert done.returncode == 2, done.stderr[-2000:]
    line = _error_line(done.stderr, "train")
    assert "Traceback" not in line and "no image file at" in line and str(data) in line
    assert ("DataLoader worker" in line) == (workers == "1")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and "no image file at" in summary["error"]


@pytest.mark.parametrize("task", ["segment", pytest.param("detect", marks=pytest.mark.slow)])  # detect: 10 s
def test_photos_decoded_once_are_not_read_again(tiny_runs, task, tmp_path):
    """Decoded once into memory, the photos are no longer needed on disk after the first epoch:
    deleting them does not stop the run. Detection's loader worker augments the decoded photos."""
    import json

    data = tmp_path / "data"
    shutil.copytree(tiny_runs[task].data, data)
    photos = sorted((data / "train" / "images").iterdir()) if task == "segment" else sorted((data / "images").iterdir())
    out = tmp_path / "run"
    flags = [*tiny_runs[task].train_flags, "--data", data, "--epochs", "2", "--workers", "1", "--no-progress"]
    done = train_in_fresh_process(*flags, "--out", out, delete_after_epoch_1=photos)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "decoded once into memory" in done.stdout
    expected = "augmented per image in 1 loader workers" if task == "detect" else "augmented a batch at a time"
    assert f"data decoded once and kept in memory, {expected}" in done.stdout
    assert json.loads((out / "summary.json").read_text())["status"] == "finished"


def test_classification_predict_draws_its_labels_and_refuses_other_tasks_flags(digits_run, tmp_path, capsys):
    photo = tmp_path / "digit.png"
    Image.new("L", (16, 16), 200).save(photo)
    checkpoint = str(digits_run / "best.safetensors")
    out = tmp_path / "labelled"
    assert main(["predict", checkpoint, str(photo), "--topk", "2", "--out", str(out)]) == 0
    drawn = out / "digit.label.png"
    with Image.open(drawn) as picture:
        assert picture.info.get("Software") == "lucid" and min(picture.size) == 256  # enlarged to be read
    assert "labelled images" in capsys.readouterr().out
    assert main(["predict", checkpoint, str(photo), "--out", str(out)]) == 0  # its own file again
    capsys.readouterr()
    assert main(["predict", checkpoint, str(photo), "--score-threshold", "0.5"]) == 2
    assert "--score-threshold: not used when predicting with a classify model" in _error(capsys, "predict")
    assert main(["predict", checkpoint, str(photo), "--out", str(digits_run / "best.safetensors")]) == 2
    assert "is a file; name a folder" in _error(capsys, "predict")


def test_predict_checks_every_output_before_writing_one(digits_run, tmp_path, capsys):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    for photo in (first, second):
        Image.new("L", (16, 16), 100).save(photo)
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.label.png").write_bytes(b"the user's own")
    assert main(["predict", str(digits_run / "best.safetensors"), str(first), str(second), "--out", str(out)]) == 2
    assert "b.label.png exists and was not written by lucid" in _error(capsys, "predict")
    assert sorted(p.name for p in out.iterdir()) == ["b.label.png"]  # a.label.png was not written first


def test_segmentation_and_detection_predict_refuse_flags_they_do_not_use(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    photo = tmp_path / "p.png"
    Image.new("RGB", (40, 32), (90, 90, 90)).save(photo)
    assert main(["predict", "lraspp_mobilenet_v3_small", str(photo), "--topk", "3"]) == 2
    assert "--topk: not used when predicting with a segment model" in _error(capsys, "predict")
    assert main(["predict", "ssdlite320_mobilenet_v3_small", str(photo), "--topk", "3"]) == 2
    assert "--topk: not used when predicting with a detect model" in _error(capsys, "predict")
    assert main(["predict", "ssdlite320_mobilenet_v3_small", str(photo)]) == 0
    (folder,) = (tmp_path / "runs").iterdir()  # by default beside the runs, not loose in the folder
    assert folder.name.startswith("predict-") and (folder / "p.boxes.png").is_file()
    shutil.rmtree(tmp_path / "runs")
    assert main(["predict", "lraspp_mobilenet_v3_small", str(photo)]) == 0
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.startswith("predict-") and (folder / "p.mask.png").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png", "runs"]  # nothing loose in the folder


def test_two_photos_of_one_name_never_share_an_output(tmp_path, capsys):
    photos = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        photos.append(tmp_path / folder / "p.png")
        Image.new("RGB", (40, 32), (90, 90, 90)).save(photos[-1])
    out = tmp_path / "out"
    assert main(["predict", "ssdlite320_mobilenet_v3_small", *map(str, photos), "--out", str(out)]) == 2
    assert "would both write" in _error(capsys, "predict") and not out.exists()
