"""Hostile data trees (issue 15, item 1): one walk decides the files; no hang, no silent wrong answer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lucid.data import decode_all, find_layout, forks_cleanly, load_image, verify_images, walk_images
from lucid.errors import DataError
from lucid.train import check_image_folder


def _png(path: Path, value: int = 128, size: int = 12, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (size, size), (value, 0, 255 - value) if mode == "RGB" else value).save(path)
    return path


def _tree(root: Path, per_class: int = 3) -> Path:
    for c, name in enumerate(("a", "b")):
        for i in range(per_class):
            _png(root / "train" / name / f"{i}.png", 40 * c + i)
            _png(root / "val" / name / f"{i}.png", 40 * c + i + 10)
    return root


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_called_png_is_skipped_never_opened(tmp_path: Path) -> None:
    root = _tree(tmp_path / "data")
    os.mkfifo(root / "train" / "a" / "pipe.png")
    # In a child process with a timeout: opening the FIFO would block forever.
    code = (
        "import sys; from lucid.train import check_image_folder; from lucid.data import find_layout;"
        f"print(check_image_folder({str(root)!r})); print(find_layout({str(root)!r}).notes)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "['a', 'b']" in done.stdout and "pipe.png" in done.stdout and "FIFO" in done.stdout
    files, skipped = walk_images(root / "train" / "a")
    assert [f.name for f in files] == ["0.png", "1.png", "2.png"]
    assert len(skipped) == 1 and "named pipe" in skipped[0]


def test_symlink_loops_do_not_multiply_a_class(tmp_path: Path) -> None:
    root = _tree(tmp_path / "data")
    (root / "train" / "a" / "loop").symlink_to(".")
    (root / "train" / "a" / "up").symlink_to("..")
    layout = find_layout(root)
    assert {k: len(v) for k, v in layout.train.files.items()} == {"a": 3, "b": 3}
    assert any("symlink loop" in note for note in layout.notes)


def test_hidden_files_device_links_and_broken_links_are_skipped(tmp_path: Path) -> None:
    root = _tree(tmp_path / "data")
    folder = root / "train" / "b"
    (folder / ".png").write_bytes(b"not an image")
    (folder / ".DS_Store").write_bytes(b"\x00\x01")
    (folder / "._3.png").write_bytes(b"resource fork")
    (folder / "device.png").symlink_to("/dev/null")
    (folder / "broken.png").symlink_to(folder / "nowhere.png")
    files, skipped = walk_images(folder)
    assert [f.name for f in files] == ["0.png", "1.png", "2.png"]
    text = " ".join(skipped)
    assert "device.png" in text and "character device" in text and "broken.png" in text and "hidden" in text
    assert check_image_folder(root) == ["a", "b"]


def test_the_macos_zip_folder_is_no_class_and_hides_no_download(tmp_path: Path) -> None:
    """A folder zipped on a Mac unpacks with ``__MACOSX/`` (``._`` files) beside the data: it is
    not a class "of no images" (the run stopped so before), nor a second folder that hides a
    download's one data folder, for any task."""
    from drawing_helpers import boxes_folder
    from lucid.tasks import task_of_data

    def artefact(root: Path) -> None:
        (root / "__MACOSX" / "data" / "train" / "a").mkdir(parents=True)
        (root / "__MACOSX" / "data" / "train" / "a" / "._0.png").write_bytes(b"resource fork")

    classes = _tree(tmp_path / "classes")
    artefact(classes / "train")  # beside the class folders
    layout = find_layout(classes)
    assert layout.train.classes == ["a", "b"] and layout.val.classes == ["a", "b"]
    download = tmp_path / "download"
    _tree(download / "data")
    artefact(download)  # beside the one data folder
    layout = find_layout(download)
    assert layout.root == download / "data" and layout.train.classes == ["a", "b"]
    boxes = tmp_path / "boxes"
    boxes_folder(boxes / "cells", count=4)
    artefact(boxes)
    claimed = task_of_data(str(boxes))
    assert claimed is not None and claimed[0] == "detect"


def test_a_corrupt_image_in_a_symlinked_folder_is_a_clear_error(tmp_path: Path) -> None:
    root = _tree(tmp_path / "data")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (root / "train" / "a" / "linked").symlink_to(outside)
    with pytest.raises(DataError, match=r"unreadable image.*bad\.png"):
        check_image_folder(root)


def test_loader_processes_decode_what_this_process_decodes_and_name_a_corrupt_file(tmp_path: Path) -> None:
    files = [_png(tmp_path / f"{i:03d}.png", value=3 * i, size=10 + i % 7) for i in range(70)]
    whole = decode_all(files, 3, 8, 9, progress=False, workers=0)
    assert whole.shape == (70, 3, 8, 8) and len({int(image[0].sum()) for image in whole}) == 70
    rng = torch.get_rng_state()
    assert torch.equal(decode_all(files, 3, 8, 9, progress=False, workers=2), whole)
    assert torch.equal(torch.get_rng_state(), rng)  # the run's seeded weights do not depend on the cores
    (tmp_path / "033.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    for workers in (0, 2):
        with pytest.raises(DataError, match=r"^1 unreadable image\(s\): .*033\.png"):
            decode_all(files, 3, 8, 9, progress=False, workers=workers)
        with pytest.raises(DataError, match=r"^1 unreadable image\(s\): .*033\.png"):
            verify_images(files, 3, workers=workers)
    verify_images(files[:33] + files[34:], 3, workers=2)


def test_decoding_stays_in_this_process_where_forking_is_unsafe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [_png(tmp_path / f"{i}.png", value=9 * i) for i in range(6)]
    expected = decode_all(files, 3, 8, 8, progress=False, workers=0)
    monkeypatch.setitem(sys.modules, "onnxruntime", sys.modules.get("onnxruntime", object()))
    assert not forks_cleanly()

    def no_fork() -> int:
        raise AssertionError("a worker was forked beside a serving runtime")

    monkeypatch.setattr(os, "fork", no_fork)
    assert torch.equal(decode_all(files, 3, 8, 8, progress=False, workers=2), expected)


def test_16_bit_grey_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    ramp = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 257).astype(np.uint16)
    path = tmp_path / "grey16.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    grey = np.asarray(load_image(path, 1))
    assert np.array_equal(grey, np.arange(256, dtype=np.uint8).reshape(16, 16))
    rgb = np.asarray(load_image(path, 3))
    assert rgb.shape == (16, 16, 3) and abs(float(rgb.mean()) - 127.5) < 1  # not 99.5 % white


@pytest.mark.parametrize("mode", ["P", "RGBA", "LA", "CMYK", "1", "I", "F", "L"])
def test_every_mode_decodes_to_the_picture(tmp_path: Path, mode: str) -> None:
    base = Image.fromarray(np.tile(np.arange(0, 256, 16, dtype=np.uint8), (16, 1)), mode="L")
    image = (
        base.convert(mode)
        if mode not in ("I", "F")
        else Image.fromarray(
            np.asarray(base).astype(np.int32 if mode == "I" else np.float32) / (1.0 if mode == "I" else 255.0)
        ).convert(mode)
    )
    path = tmp_path / f"img.{'tiff' if mode in ('F', 'CMYK', 'I') else 'png'}"
    image.save(path)
    grey = np.asarray(load_image(path, 1)).astype(int)
    expected = np.asarray(base).astype(int)
    if mode == "1":
        expected = np.where(expected >= 128, 255, 0)  # a bilevel image keeps its two levels
        assert set(np.unique(grey)) <= {0, 255}
        return
    assert np.abs(grey - expected).max() <= 2, mode


def test_transparent_pixels_show_white(tmp_path: Path) -> None:
    path = tmp_path / "alpha.png"
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(path)
    assert np.asarray(load_image(path, 3)).min() == 255


def test_eval_refuses_a_folder_of_other_classes_before_walking_it() -> None:
    from lucid.models import mobilenet_v3_small
    from lucid.train import evaluate

    model = mobilenet_v3_small(num_classes=3)
    model.checkpoint_extra = {"categories": ["a", "b", "c"], "image_size": 32}
    with pytest.raises(DataError, match="not among the model's classes"):
        evaluate(model, "/usr")  # e.g. a tampered extra.data.root: refused from its top-level names
    model.checkpoint_extra = {"categories": ["a", "b", "c"], "image_size": 100_000}
    with pytest.raises(DataError, match="the checkpoint.s image_size height must be at most 4096 pixels, got 100000"):
        evaluate(model, "/usr")


@pytest.mark.parametrize("names", [("p00.jpg", "p00.png"), ("P00.png", "p00.PNG")])
def test_two_detection_photos_of_one_name_are_refused_naming_both(tmp_path: Path, names: tuple[str, str]) -> None:
    """Found: ``images/p00.jpg`` + ``images/p00.png`` with one ``labels/p00.txt`` trained on one of
    them and dropped the other silently (segmentation already refused its case)."""
    from lucid.detect import find_detection_layout

    root = tmp_path / "boxes"
    for name in names:
        _png(root / "images" / name)
    _png(root / "images" / "p01.png")
    (root / "labels").mkdir()
    (root / "labels" / "p00.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "classes.txt").write_text("cell\n")
    if not all((root / "images" / n).exists() for n in names) or len(list((root / "images").iterdir())) < 3:
        pytest.skip("this file system folds letter case")
    first, second = sorted(names)
    with pytest.raises(DataError, match=rf"{root / 'images'}: {first} and {second} have one name, so only one"):
        find_detection_layout(root)


def test_a_link_back_up_the_tree_is_not_unwrapped_as_a_download_root(tmp_path: Path) -> None:
    """``a/b/c -> a``: each folder holds one folder, so each looks like a download's root around
    its data; the link back up is not followed, and every task's finder ends with its own error."""
    from lucid.detect import find_detection_layout
    from lucid.segment.data import find_layout as find_segmentation_layout

    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "c").symlink_to(tmp_path / "a", target_is_directory=True)
    for finder, message in (
        (find_layout, "holds no images in class folders"),
        (find_segmentation_layout, "no image/mask folders found"),
        (find_detection_layout, "no box annotations found"),
    ):
        with pytest.raises(DataError, match=message):
            finder(tmp_path / "a")
