"""lucid train / eval / predict: short real runs through the command line and the library."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

import lucid
from cli_helpers import train_in_fresh_process
from lucid.cli import main
from lucid.models import load_model
from lucid.train import TrainConfig, check_image_folder, digits_datasets, evaluate, predict, train

TINY = [
    "--epochs",
    "1",
    "--limit-train",
    "96",
    "--limit-val",
    "48",
    "--img-size",
    "16",
    "--batch-size",
    "32",
    "--no-progress",
]


def _digit_png(path: Path, index: int, size: int = 24) -> Path:
    """A real digits image (white on black, like the training data) as a grey PNG file."""
    from sklearn.datasets import load_digits

    image = torch.from_numpy(load_digits().images[index]).float().div(16).unsqueeze(0)
    image = v2.functional.resize(image, [size, size], antialias=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image[0].mul(255).round().clamp(0, 255).to(torch.uint8).numpy(), mode="L").save(path)
    return path


def _rgb_png(path: Path, colour: tuple[int, int, int], seed: int, size: int = 20) -> Path:
    """A noisy image dominated by one colour (so classes are learnable and distinct)."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randint(0, 60, (3, size, size), generator=generator)
    image = (torch.tensor(colour).view(3, 1, 1) * 0.75 + noise).clamp(0, 255).to(torch.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image.permute(1, 2, 0).contiguous().numpy(), mode="RGB").save(path)
    return path


COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


def _image_folder(root: Path, train_per_class: int = 6, val_per_class: int = 2) -> Path:
    for c, (name, colour) in enumerate(COLOURS.items()):
        for i in range(train_per_class):
            _rgb_png(root / "train" / name / f"{i}.png", colour, seed=100 * c + i)
        for i in range(val_per_class):
            _rgb_png(root / "val" / name / f"{i}.png", colour, seed=100 * c + 50 + i)
    return root


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("digits") / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


# --------------------------------------------------------------------------------------------
# the default data
# --------------------------------------------------------------------------------------------


def test_digits_datasets_split_is_fixed_stratified_and_normalised() -> None:
    train_ds, val_ds = digits_datasets(image_size=32, seed=0, val_fraction=0.2)
    assert (len(train_ds), len(val_ds)) == (1437, 360)
    image, label = val_ds[0]
    assert image.shape == (1, 32, 32) and image.dtype == torch.float32 and isinstance(label, int)
    assert train_ds.classes == [str(d) for d in range(10)]
    assert set(train_ds.indices.tolist()).isdisjoint(val_ds.indices.tolist())
    # every class in both splits (stratified), and the same split again for the same seed
    assert torch.bincount(val_ds.targets, minlength=10).min() >= 35
    again = digits_datasets(image_size=32, seed=0)[1]
    assert torch.equal(again.indices, val_ds.indices)
    assert not torch.equal(digits_datasets(image_size=32, seed=1)[1].indices, val_ds.indices)
    # normalised with the training split's statistics
    stacked = torch.stack([train_ds[i][0] for i in range(len(train_ds))])
    assert abs(float(stacked.mean())) < 1e-3 and abs(float(stacked.std()) - 1) < 1e-2


# --------------------------------------------------------------------------------------------
# lucid train
# --------------------------------------------------------------------------------------------


def test_train_writes_summary_metrics_curves_and_checkpoints(digits_run: Path) -> None:
    names = {p.name for p in digits_run.iterdir()}
    expected = {
        "summary.json",
        "metrics.jsonl",
        "curves.png",
        "best.safetensors",
        "last.safetensors",
        "train_state.safetensors",
    }
    assert expected <= names
    summary = json.loads((digits_run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs"] == 1
    assert 0.0 <= summary["best_val_top1"] <= 1.0 and summary["seconds"] > 0
    assert summary["model"]["name"] == "mobilenet_v3_small"
    assert summary["model"]["config"]["in_channels"] == 1 and summary["model"]["config"]["num_classes"] == 10
    assert summary["data"]["kind"] == "digits" and summary["split"]["seed"] == 0
    assert "96 train / 48 val" in summary["data"]["description"]
    lines = (digits_run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    for key in ("train_loss", "train_top1", "val_loss", "val_top1", "val_top5", "lr", "seconds"):
        assert isinstance(record[key], float), key
    assert record["val_top1"] == summary["best_val_top1"]
    assert (digits_run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_checkpoints_rebuild_with_class_names_and_preprocessing(digits_run: Path) -> None:
    model = load_model(digits_run / "best.safetensors")
    extra = model.checkpoint_extra
    assert extra["categories"] == [str(d) for d in range(10)]
    assert extra["image_size"] == 16 and extra["in_channels"] == 1 and len(extra["mean"]) == 1
    assert extra["data"]["kind"] == "digits" and extra["data"]["split"]["seed"] == 0
    assert model.config.in_channels == 1 and model.config.num_classes == 10
    # last.safetensors is a plain model checkpoint: model tensors only, nothing of the optimizer
    assert set(lucid.load(digits_run / "last.safetensors")) == set(model.state_dict())


def test_training_state_is_data_not_pickle(digits_run: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(digits_run / "train_state.safetensors"), framework="pt") as handle:
        metadata = handle.metadata()
    state = json.loads(metadata["state"])
    assert {"epoch", "optimizer", "scheduler", "rng", "model", "best", "config"} <= set(state)
    assert state["epoch"] == 1


def test_default_out_folder_is_new_and_timestamped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = train(TrainConfig(epochs=1, limit_train=32, limit_val=16, img_size=16, batch_size=16, progress=False))
    assert result.out_dir.parent == Path("runs") and result.out_dir.name.startswith("mobilenet_v3_small-digits-")
    assert (tmp_path / result.out_dir / "summary.json").is_file()
    assert 0 <= result.best_val_top1 <= 1 and result.epochs == 1 and len(result.history) == 1


def test_image_folder_run_with_the_optional_features(tmp_path: Path) -> None:
    data = _image_folder(tmp_path / "colours")
    out = tmp_path / "run"
    args = [
        "--data",
        str(data),
        "--epochs",
        "1",
        "--img-size",
        "16",
        "--batch-size",
        "6",
        "--opt",
        "rmsprop",
        "--sched",
        "step",
        "--warmup-epochs",
        "0.5",
        "--ema",
        "--amp",
        "--channels-last",
        "--label-smoothing",
        "0",
        "--workers",
        "1",
        "--out",
        str(out),
        "--no-progress",
    ]
    done = train_in_fresh_process(*args)  # a loader worker: forked from a fresh process, not from pytest
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"]["kind"] == "imagefolder" and summary["data"]["classes"] == ["blue", "green", "red"]
    assert summary["data"]["train_size"] == 18 and summary["data"]["val_size"] == 6
    assert summary["model"]["ema"] is True
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert "val_top1_raw" in record  # EMA and raw weights both evaluated
    model = load_model(out / "last.safetensors")
    assert model.config.in_channels == 3 and model.config.num_classes == 3
    assert model.checkpoint_extra["ema"] is True and model.checkpoint_extra["categories"] == ["blue", "green", "red"]


_FORK_THEN_FORKSERVER = """
import json
import sys
from pathlib import Path

from lucid.cli import main

data, root = sys.argv[1], Path(sys.argv[2])
flags = ["--data", data, "--epochs", "2", "--img-size", "16", "--batch-size", "6", "--memory-budget", "0",
         "--workers", "2", "--no-progress"]
assert main(["train", *flags, "--out", str(root / "forked")]) == 0
import onnxruntime  # noqa: E402,F401  (a serving runtime in the process, as after lucid.deploy)
assert main(["train", *flags, "--out", str(root / "forkserver")]) == 0
"""


@pytest.mark.slow  # 23 s in CI: two fresh training processes; the default suite keeps its 15 minutes
def test_workers_start_from_a_fork_server_once_a_runtime_is_loaded_and_train_the_same(tmp_path: Path) -> None:
    """A process that has loaded ONNX Runtime must not fork loader workers (its threads made a
    forked worker abort); a fork server starts them instead, with the same batches and result."""
    import subprocess
    import sys

    data = _image_folder(tmp_path / "colours")
    command = [sys.executable, "-c", _FORK_THEN_FORKSERVER, str(data), str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = done.stdout.split("loader workers start from a fork server", 1)
    assert "fork server" not in first and "data streamed from disk through 2 loader workers" in first
    assert "this process has loaded ONNX Runtime" in second.splitlines()[0]
    assert "data streamed from disk through 2 loader workers" in second
    forked, served = (
        [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        for name in ("forked", "forkserver")
    )
    keys = ("train_loss", "train_top1", "val_loss", "val_top1")
    assert [[r[k] for k in keys] for r in served] == [[r[k] for k in keys] for r in forked]
    assert len(forked) == 2


_WORKER_COUNTS = """
import json
import multiprocessing
import os
import sys
from pathlib import Path

import lucid.train.engine as engine
from lucid.cli import main

data, root = sys.argv[1], Path(sys.argv[2])
forks = root / "forks.txt"
os.register_at_fork(after_in_child=lambda: forks.open("a").write("fork\\n"))
flags = ["--data", data, "--epochs", "3", "--img-size", "16", "--batch-size", "6", "--memory-budget", "0",
         "--no-progress"]
assert main(["train", *flags, "--workers", "0", "--out", str(root / "w0")]) == 0
assert not forks.exists()
assert main(["train", *flags, "--workers", "2", "--out", str(root / "w2")]) == 0
print("forks", len(forks.read_text().splitlines()))
print("alive after the run", len(multiprocessing.active_children()))
say = engine._say


def stop_after_epoch_1(ctx, message):
    say(ctx, message)
    if message.startswith("epoch   1/"):
        raise KeyboardInterrupt


engine._say = stop_after_epoch_1
main(["train", *flags, "--workers", "2", "--out", str(root / "stopped")])
engine._say = say
assert main(["train", "--resume", str(root / "stopped"), "--no-progress"]) == 0
"""


@pytest.mark.slow  # ~20 s: two runs with loader workers; kept out of the default suite's 15 minutes
def test_loader_workers_live_for_the_run_and_any_number_draws_the_same_batches(tmp_path: Path) -> None:
    """Each image's augmentation is seeded from (seed, epoch, index), not by the worker that
    draws it: a streamed run with 0 or 2 workers, and one stopped after epoch 1 and resumed,
    give the same numbers; the 2 workers of each loader start once for the whole run."""
    import subprocess
    import sys

    data = _image_folder(tmp_path / "colours")
    command = [sys.executable, "-c", _WORKER_COUNTS, str(data), str(tmp_path)]
    # One thread in every run: on a busy machine lucid trains with fewer threads, which sums in another order.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "forks 4" in done.stdout  # 2 training + 2 validation workers, not 4 per epoch
    assert "alive after the run 0" in done.stdout
    keys = ("train_loss", "train_top1", "val_loss", "val_top1")
    runs = {
        name: [
            [json.loads(line)[k] for k in keys] for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        ]
        for name in ("w0", "w2", "stopped")
    }
    assert len(runs["w0"]) == 3
    assert runs["w2"] == runs["w0"] and runs["stopped"] == runs["w0"]


def test_fine_tune_from_a_checkpoint_replaces_the_head(tmp_path: Path, digits_run: Path) -> None:
    data = _image_folder(tmp_path / "colours")
    out = tmp_path / "finetune"
    config = TrainConfig(
        data=str(data),
        weights=str(digits_run / "best.safetensors"),
        in_channels=1,
        epochs=1,
        img_size=16,
        batch_size=6,
        out=str(out),
        progress=False,
    )
    with pytest.warns(UserWarning):
        result = train(config)
    model = load_model(result.best_checkpoint)
    assert model.config.num_classes == 3 and model.config.in_channels == 1
    assert result.summary["model"]["weights"] == config.weights


# --------------------------------------------------------------------------------------------
# lucid eval and lucid predict
# --------------------------------------------------------------------------------------------


def test_eval_on_the_recorded_digits_split(digits_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``lucid eval`` re-derives exactly the images the run validated on: the digits split, limited
    by the recorded ``--limit-val`` with the same seed, so its top-1 is the run's best val top-1."""
    checkpoint = digits_run / "best.safetensors"
    assert main(["eval", str(checkpoint), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 48 and len(result["per_class"]) == 10
    assert sum(map(sum, result["confusion"])) == 48
    assert Path(result["confusion_png"]).read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((digits_run / "summary.json").read_text())
    assert result["top1"] == pytest.approx(summary["best_val_top1"])
    # the same numbers computed independently from the model and the digits split (seed 0 + 1 limits it)
    model = load_model(checkpoint)
    _, val = digits_datasets(image_size=16, seed=0)
    kept = sorted(torch.randperm(len(val), generator=torch.Generator().manual_seed(1))[:48].tolist())
    with torch.no_grad():
        logits = model(torch.stack([val[i][0] for i in kept]))
    targets = val.targets[kept]
    assert result["top1"] == pytest.approx(float((logits.argmax(1) == targets).float().mean()))
    top5 = logits.topk(5, dim=1).indices.eq(targets.view(-1, 1)).any(1).float().mean()
    assert result["top5"] == pytest.approx(float(top5))
    assert result["images_per_second"] > 0


def test_eval_text_output_and_folder_data(tmp_path: Path, digits_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "digits_val"
    for index, label in ((0, "0"), (1, "1"), (11, "1")):
        _digit_png(folder / label / f"{index}.png", index)
    png = tmp_path / "cm.png"
    assert main(["eval", str(digits_run / "best.safetensors"), "--data", str(folder), "--confusion", str(png)]) == 0
    out = capsys.readouterr().out
    assert "top-1" in out and "top-5" in out and "images/s" in out and str(png) in out
    assert png.is_file()
    result = evaluate(digits_run / "best.safetensors", folder)
    assert result.images == 3 and result.per_class["1"] is not None and result.per_class["5"] is None


def test_predict_gives_ranked_labels_that_match_the_model(
    tmp_path: Path, digits_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = [str(_digit_png(tmp_path / f"d{i}.png", i)) for i in (3, 4)]
    checkpoint = str(digits_run / "best.safetensors")
    assert main(["predict", checkpoint, *images, "--topk", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in result] == images
    model = load_model(checkpoint)
    extra = model.checkpoint_extra
    transform = v2.Compose(
        [
            v2.ToImage(),
            v2.Resize(16),
            v2.CenterCrop(16),
            v2.Grayscale(1),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(extra["mean"], extra["std"]),
        ]
    )

    batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in images])
    with torch.no_grad():
        expected = model(batch).softmax(1).topk(3, dim=1)
    for entry, values, indices in zip(result, expected.values, expected.indices, strict=True):
        assert [p["label"] for p in entry["predictions"]] == [str(int(i)) for i in indices]
        assert [p["probability"] for p in entry["predictions"]] == pytest.approx(values.tolist(), abs=1e-6)
    assert main(["predict", checkpoint, images[0], "--topk", "2"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0] == images[0] and len(text) == 3 and text[1].strip().endswith("%")
    direct = predict(checkpoint, images, topk=2)[1]
    assert [label for label, _ in direct] == [p["label"] for p in result[1]["predictions"][:2]]
    assert [p for _, p in direct] == pytest.approx([p["probability"] for p in result[1]["predictions"][:2]])


# --------------------------------------------------------------------------------------------
# errors, before anything is trained or written
# --------------------------------------------------------------------------------------------


def _train_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lucid train: error:") and len(err.strip().splitlines()) == 1
    return err


def test_bad_data_is_refused_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "never"
    common = ["--out", str(out), "--no-progress"]
    assert "no such folder" in _train_error(["--data", str(tmp_path / "missing"), *common], capsys)
    (tmp_path / "noval" / "train" / "a").mkdir(parents=True)
    (tmp_path / "noval" / "cats").mkdir()  # could be a class: train/ alone is not split then
    assert "but no val/" in _train_error(["--data", str(tmp_path / "noval"), *common], capsys)
    (tmp_path / "noval" / "cats").rmdir()  # train/ alone is split, but its one class has no images
    assert "train/ holds no images in class folders" in _train_error(
        ["--data", str(tmp_path / "noval"), *common], capsys
    )
    empty = tmp_path / "empty"
    (empty / "train" / "a").mkdir(parents=True)
    (empty / "val" / "a").mkdir(parents=True)
    (empty / "train" / "a" / "notes.txt").write_text("not an image")
    assert "holds no images" in _train_error(["--data", str(empty), *common], capsys)
    only_val = _image_folder(tmp_path / "onlyval", train_per_class=1, val_per_class=1)
    _rgb_png(only_val / "val" / "yellow" / "0.png", (255, 255, 0), seed=9)
    assert "only in val/" in _train_error(["--data", str(only_val), *common], capsys)
    broken = _image_folder(tmp_path / "broken", train_per_class=1, val_per_class=1)
    (broken / "train" / "red" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    err = _train_error(["--data", str(broken), *common], capsys)
    assert "unreadable image" in err and "bad.png" in err
    assert not out.exists()


def test_check_image_folder_returns_classes(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "ok", train_per_class=1, val_per_class=1)
    assert check_image_folder(root) == ["blue", "green", "red"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "0"], "epochs must be an integer >= 1"),
        (["--batch-size", "1"], "batch_size must be an integer >= 2"),
        (["--label-smoothing", "1.5"], "label_smoothing"),
        (["--model", "resnet50"], "unknown model 'resnet50'"),
    ],
)
def test_bad_settings_are_clear_errors(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in _train_error([*args, "--out", str(tmp_path / "x"), "--no-progress"], capsys)


def test_cuda_requested_without_cuda(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert "CUDA is not available" in _train_error(["--device", "cuda", "--out", str(tmp_path / "x")], capsys)


def test_predict_takes_folders_of_images(tmp_path: Path, digits_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = str(digits_run / "best.safetensors")
    folder = tmp_path / "incoming"
    images = [_digit_png(folder / name, i) for i, name in ((3, "b.png"), (4, "nested/a.png"), (5, "c.PNG"))]
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"")
    assert main(["predict", checkpoint, str(folder), str(images[0]), "--topk", "1", "--json"]) == 0
    walked = sorted(str(p) for p in images)  # the folder's images in path order, then the file as given
    assert [r["image"] for r in json.loads(capsys.readouterr().out)] == [*walked, str(images[0])]
    (tmp_path / "empty").mkdir()
    assert main(["predict", checkpoint, str(tmp_path / "empty")]) == 2
    assert "a folder without images" in capsys.readouterr().err


def test_predict_and_eval_errors(tmp_path: Path, digits_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = str(digits_run / "best.safetensors")
    assert main(["predict", checkpoint, str(tmp_path / "nope.png")]) == 2
    assert "no image file" in capsys.readouterr().err
    assert main(["predict", checkpoint]) == 2
    assert "at least one image" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing.safetensors")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    assert main(["eval", checkpoint, "--data", str(tmp_path / "nodata")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_predict_with_a_model_name_and_weights_uses_the_weights_categories(tmp_path: Path, digits_run: Path) -> None:
    image = str(_digit_png(tmp_path / "d.png", 5))
    checkpoint = str(digits_run / "best.safetensors")
    by_name = predict("mobilenet_v3_small", [image], topk=3, weights=checkpoint)
    assert by_name == predict(checkpoint, [image], topk=3)
    assert {label for label, _ in by_name[0]} <= {str(d) for d in range(10)}


def test_predict_onnx_goes_through_the_deploy_predictor(
    tmp_path: Path, digits_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lucid import deploy

    checkpoint = str(digits_run / "best.safetensors")
    onnx_file = tmp_path / "digits.onnx"
    deploy.export(checkpoint, onnx_file)
    images = [str(_digit_png(tmp_path / f"d{i}.png", i)) for i in (7, 8)]
    assert main(["predict", "--onnx", str(onnx_file), *images, "--topk", "3", "--json", "--threads", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    eager = predict(checkpoint, images, topk=3)
    for entry, expected in zip(result, eager, strict=True):
        assert [p["label"] for p in entry["predictions"]] == [label for label, _ in expected]
        assert [p["probability"] for p in entry["predictions"]] == pytest.approx([p for _, p in expected], abs=1e-4)
    assert main(["predict", "--onnx", str(onnx_file), images[0], "--topk", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == images[0]


def test_eval_keeps_its_results_when_the_confusion_image_cannot_be_written(
    digits_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # /sys refuses new files even to root (chmod would not stop root).
    unwritable = "/sys/lucid-test-eval/confusion.png"
    assert main(["eval", str(digits_run / "best.safetensors"), "--confusion", unwritable, "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert 0 <= result["top1"] <= 1 and result["images"] > 0
    assert result["confusion_png"] is None and unwritable in result["confusion_error"]
    assert captured.err.count("\n") == 1 and "confusion matrix not written" in captured.err


def test_the_default_learning_rate_scales_down_with_small_batches() -> None:
    """The optimizer default is for batch 64; smaller batches get it scaled linearly (batch 4 at the
    full SGD rate 0.1 diverged), larger ones keep it, and an explicit ``lr`` is used as given."""
    assert TrainConfig().learning_rate == pytest.approx(0.1)
    assert TrainConfig(batch_size=16).learning_rate == pytest.approx(0.025)
    assert TrainConfig(batch_size=256).learning_rate == pytest.approx(0.1)
    assert TrainConfig(batch_size=8, opt="adamw").learning_rate == pytest.approx(2e-3 / 8)
    assert TrainConfig(batch_size=4, lr=0.3).learning_rate == pytest.approx(0.3)


def test_epoch_bn_statistics_average_the_epochs_batches_and_give_the_momentum_back():
    """Detection restarts BatchNorm's running statistics each epoch and averages that epoch's
    batches (a from-scratch detector's weights outrun BN momentum 0.03)."""
    from lucid.train.engine import epoch_bn_statistics

    layer = torch.nn.BatchNorm2d(2, momentum=0.03)
    layer.running_mean.fill_(5.0)
    batches = [torch.randn(4, 2, 3, 3) + shift for shift in (0.0, 1.0, 2.0)]
    with epoch_bn_statistics(layer):
        for batch in batches:
            layer(batch)
    expected = torch.stack([b.mean(dim=(0, 2, 3)) for b in batches]).mean(0)
    assert torch.allclose(layer.running_mean, expected, atol=1e-6) and layer.momentum == 0.03
    with epoch_bn_statistics(layer, enabled=False):
        layer(batches[0])
    assert not torch.allclose(layer.running_mean, expected) and int(layer.num_batches_tracked) == 4


class _Noise(torch.utils.data.Dataset):
    """Item ``i``: three draws from torch's global generator, plus ``i``."""

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.rand(3) + index

    def __len__(self) -> int:
        return 5


def test_seeded_items_draw_from_their_epoch_and_index_and_leave_the_global_stream_alone() -> None:
    from torch.utils.data.distributed import DistributedSampler

    from lucid.data import EpochItems, SeededItems

    items = SeededItems(_Noise(), seed=7)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    first = items[(1, 2)]
    assert torch.equal(torch.get_rng_state(), before)  # a run without workers keeps its own stream
    assert torch.equal(items[(1, 2)], first)
    assert not torch.equal(items[(2, 2)], first) and not torch.equal(items[(1, 3)] - 1, first)
    assert not torch.equal(SeededItems(_Noise(), seed=8)[(1, 2)], first)
    sampler = DistributedSampler(_Noise(), num_replicas=1, rank=0, shuffle=True, seed=7)
    sampler.set_epoch(4)
    keys = list(EpochItems(sampler))
    assert [epoch for epoch, _ in keys] == [4] * 5 and sorted(i for _, i in keys) == list(range(5))
    assert len(EpochItems(sampler)) == len(items) == 5
    with pytest.raises(TypeError, match=r"\(epoch, index\) keys from EpochItems, got 3"):
        items[3]


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux's")
def test_streamed_sets_get_a_worker_per_core_of_their_share_at_most_eight(monkeypatch: pytest.MonkeyPatch) -> None:
    from lucid.data import default_workers

    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    for cores, expected in ((1, 1), (2, 2), (6, 6), (16, 8), (64, 8)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid, n=cores: set(range(n)))
        assert default_workers() == expected, cores
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # torchrun --nproc-per-node 4: each process gets 4 cores' worth
    assert default_workers() == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "32")
    assert default_workers() == 1


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux's")
def test_cpu_training_threads_leave_loader_workers_only_the_free_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the CPU the step's threads compute on the cores; workers get what they leave, none when
    they take every core (workers beside them made 2-core epochs 1.2-1.6x slower)."""
    from lucid.data import default_workers

    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    for cores, threads, expected in ((2, 2, 0), (2, 1, 1), (1, 1, 0), (16, 16, 0), (16, 4, 8), (16, 12, 4)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid, n=cores: set(range(n)))
        assert default_workers(threads) == expected, (cores, threads)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # torchrun --nproc-per-node 2, OMP_NUM_THREADS=1 each
    assert default_workers(1) == 7
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "16")
    assert default_workers(1) == 0


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux's")
def test_a_cpu_run_streams_in_the_training_process_when_its_threads_take_every_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(2)))
    data = _image_folder(tmp_path / "colours")
    flags = ["--data", str(data), "--epochs", "1", "--img-size", "16", "--batch-size", "6", "--memory-budget", "0"]
    assert (
        main(["train", *flags, "--threads", "2", "--device", "cpu", "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    )
    out = capsys.readouterr().out
    assert "streaming images from disk in the training process: its 2 threads use the cores" in out
    assert "data read in the training process" in out and "streamed from disk through" not in out
