"""Devices and precision: --device auto, --precision and --amp, the "training:" line; the CUDA
checks at the end run only where torch sees a GPU (they skip cleanly elsewhere)."""

from __future__ import annotations

import json

import pytest
import torch

from lucid.train import TrainConfig, train
from lucid.train.distributed import auto_device, resolve_device
from lucid.train.engine import resolve_precision

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_auto_is_the_default_and_picks_what_is_there():
    assert TrainConfig().device == "auto"
    expected = "cuda" if torch.cuda.is_available() else auto_device()
    assert resolve_device("auto", 0).type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available here"):
            resolve_device("cuda", 0)
        with pytest.raises(ValueError, match="--device cuda:1: no such GPU here"):
            resolve_device("cuda:1", 0)


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "tpu", ""])
def test_unknown_devices_are_refused_by_name(bad):
    with pytest.raises(ValueError, match="device must be one of auto, cpu, cuda, mps or cuda:N"):
        TrainConfig(device=bad)


def test_precision_by_device_and_flag(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert resolve_precision(TrainConfig(), cpu) == "fp32"  # the CPU default: fp32
    assert resolve_precision(TrainConfig(amp=True), cpu) == "bf16"  # --amp: the alias of --precision bf16
    assert resolve_precision(TrainConfig(precision="bf16"), cpu) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision(TrainConfig(), cuda) == "bf16"  # CUDA: bf16 autocast by default
    assert resolve_precision(TrainConfig(precision="fp32"), cuda) == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision(TrainConfig(), cuda) == "fp16"  # no bf16: fp16 with the gradient scaler
    with pytest.raises(ValueError, match="--precision fp16 needs a CUDA device"):
        resolve_precision(TrainConfig(precision="fp16"), cpu)
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, fp16"):
        TrainConfig(precision="int8")


def test_a_run_under_autocast_validates_in_float32_so_eval_repeats_its_scores(tmp_path):
    """Found: validation ran under the training's autocast, so the scores a bf16 run recorded were
    not the float32 ones `lucid eval` (and every export) gives. CPU autocast reproduces it."""
    from lucid.train import evaluate

    config = TrainConfig(epochs=2, limit_train=320, limit_val=40, precision="bf16", device="cpu", progress=False)
    result = train(config.replace(out=str(tmp_path / "r")))
    record = json.loads((result.out_dir / "metrics.jsonl").read_text().splitlines()[-1])
    scored = evaluate(result.out_dir / "last.safetensors", device="cpu", tta="none")
    assert scored.images == 40 and scored.loss == pytest.approx(record["val_loss"], rel=1e-6)
    assert scored.top1 == pytest.approx(record["val_top1"], abs=1e-9)


def test_the_training_line_names_device_precision_and_data_path(tmp_path, capsys):
    train(TrainConfig(epochs=1, limit_train=40, limit_val=20, progress=False, out=str(tmp_path / "r")))
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("training:"))
    device = auto_device()
    assert f"on {device}" in line and ("fp32" in line if device == "cpu" else "autocast" in line)
    assert "data" in line.split(";")[-1]


@CUDA
def test_cuda_training_takes_the_gpu_bf16_and_keeps_the_decoded_set_there(tmp_path, capsys):
    result = train(TrainConfig(epochs=2, progress=False, out=str(tmp_path / "gpu")))
    assert result.summary["device"].startswith("cuda")
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("training:"))
    assert "bf16 autocast" in line or "fp16 autocast" in line
    assert ", fastest kernels, on cuda" in line  # cuDNN's benchmark mode, not deterministic kernels


@CUDA
def test_cuda_random_erasing_of_a_kept_set_runs_on_the_gpu():
    """--random-erase on a set kept on the GPU: one masked fill there, each image its own rectangle."""
    from lucid.data import BatchAugment, choose_recipe

    recipe = choose_recipe(32, small=True, random_erase=1.0)
    images = torch.full((64, 3, 32, 32), 200, dtype=torch.uint8, device="cuda")
    out = BatchAugment(recipe, (0.5,) * 3, (0.25,) * 3)(images)
    assert out.device.type == "cuda" and out.shape == (64, 3, 32, 32)
    assert int(((out == 0).all(dim=1).flatten(1).any(dim=1)).sum()) > 48  # nearly every image erased


@CUDA
def test_cuda_segmentation_and_resume(tmp_path, capsys):
    from lucid.segment import SegmentConfig, make_shapes_dataset

    data = make_shapes_dataset(tmp_path / "shapes", train=8, val=3, size=(32, 40))
    config = SegmentConfig(
        data=str(data), crop_size=(32, 32), batch_size=2, epochs=2, out=str(tmp_path / "s"), progress=False
    )
    result = train(config)
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("training:"))
    assert "data decoded once and kept on cuda" in line  # the pairs' crops are cut on the GPU
    summary = json.loads((result.out_dir / "summary.json").read_text())
    assert summary["device"].startswith("cuda") and summary["status"] == "finished"
    resumed = train(SegmentConfig(resume=str(result.out_dir), epochs=3, progress=False))
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]


@CUDA
def test_the_ssd_augmentation_runs_on_gpu_photos_as_on_the_cpu():
    """A photo on the GPU is zoomed out, cropped and resized there (the fill made on its device):
    for the same draws, the image the CPU makes, within a grey level or two (CUDA resizes uint8 in float)."""
    from torchvision import tv_tensors

    from lucid.detect import ZoomCropResize

    image = torch.zeros(3, 60, 80, dtype=torch.uint8)
    image[:, 10:30, 50:75] = 255
    boxes = tv_tensors.BoundingBoxes(torch.tensor([[50.0, 10, 75, 30]]), format="XYXY", canvas_size=(60, 80))
    step = ZoomCropResize(64)
    for seed in range(10):
        torch.manual_seed(seed)
        params = step.make_params([tv_tensors.Image(image), boxes])
        on_cpu = step.transform(tv_tensors.Image(image), params)
        on_gpu = step.transform(tv_tensors.Image(image.cuda()), params)
        assert on_gpu.device.type == "cuda" and on_gpu.shape == on_cpu.shape
        assert (on_gpu.cpu().float() - on_cpu.float()).abs().mean() < 2


@CUDA
def test_cuda_detection_trains_evaluates_and_predicts(tmp_path, capsys):
    """Detection on the GPU end to end: the photos decoded once, kept on the GPU and augmented a
    batch at a time there (`lucid.detect.batched`), bf16 autocast, then lucid eval and predict
    on the GPU, and a resume that continues the run."""
    from drawing_helpers import boxes_folder
    from lucid.detect import DetectConfig, evaluate_detection, predict_boxes

    data = boxes_folder(tmp_path / "shapes")
    config = DetectConfig(
        data=str(data),
        model="ssdlite320_mobilenet_v3_small",
        batch_size=4,
        epochs=2,
        out=str(tmp_path / "d"),
        progress=False,
    )
    result = train(config)
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("training:"))
    assert "on cuda" in line and "autocast" in line
    assert "data decoded once and kept on cuda" in line and "augmented a batch at a time" in line
    summary = json.loads((result.out_dir / "summary.json").read_text())
    assert summary["device"].startswith("cuda") and summary["status"] == "finished"
    scored = evaluate_detection(result.best_checkpoint, device="cuda")
    assert scored.images == summary["data"]["val_images"] and 0 <= scored.map <= scored.map50 <= 1
    photo = data / "images" / "p00.jpg"
    records = predict_boxes(result.best_checkpoint, [photo], tmp_path / "pred", device="cuda", score_threshold=0)
    assert records[0]["detections"] and (tmp_path / "pred" / "p00.boxes.png").is_file()
    resumed = train(DetectConfig(resume=str(result.out_dir), epochs=3, progress=False))
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]


@CUDA
def test_cuda_detection_streamed_photos_go_through_loader_workers(tmp_path, capsys):
    """Photos over the memory budget stream from disk through loader workers, pinned memory."""
    from drawing_helpers import boxes_folder
    from lucid.detect import DetectConfig

    data = boxes_folder(tmp_path / "shapes", count=8)
    config = DetectConfig(
        data=str(data), batch_size=4, epochs=1, memory_budget=0, out=str(tmp_path / "d"), progress=False
    )
    train(config)
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("training:"))
    assert "streamed from disk through" in line and "pinned memory" in line


@CUDA
def test_the_batched_ssd_augmentation_on_gpu_photos_is_the_cpus():
    """The same seed draws the same geometry for photos on the GPU as on the CPU: the same boxes,
    and the pixels within a grey level or two (CUDA resizes uint8 photos in float)."""
    from lucid.detect.batched import BatchSSDAugment

    torch.manual_seed(0)
    photos = [torch.randint(0, 256, (3, 60 + 10 * (i % 2), 80), dtype=torch.uint8) for i in range(8)]
    boxes = [torch.tensor([[5.0, 5.0, 40.0, 30.0], [30.0, 20.0, 70.0, 55.0]])[: i % 3] for i in range(8)]
    labels = [torch.tensor([1, 2])[: i % 3] for i in range(8)]
    step = BatchSSDAugment(64)
    for seed in range(3):
        torch.manual_seed(seed)
        cpu_images, cpu_boxes, cpu_labels = step(photos, boxes, labels)
        torch.manual_seed(seed)
        gpu_images, gpu_boxes, gpu_labels = step([p.cuda() for p in photos], boxes, labels)
        assert gpu_images.device.type == "cuda" and all(b.device.type == "cuda" for b in gpu_boxes)
        assert (gpu_images.cpu().float() - cpu_images.float()).abs().mean() < 2
        assert all(torch.equal(a, b.cpu()) for a, b in zip(cpu_boxes, gpu_boxes, strict=True))
        assert all(torch.equal(a, b.cpu()) for a, b in zip(cpu_labels, gpu_labels, strict=True))
