"""Fixtures shared by the whole suite.

The one BatchNorm randomiser lives in ``tests/reference_helpers.py`` (``randomise_batchnorm``),
importable from every test file because pytest puts ``tests/`` on ``sys.path`` for this conftest.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from lucid.train import TrainConfig, train
from reference_helpers import TrainedDigits

# Native extensions the suite loads late (timm's and MkDocs' dependencies) are loaded first, before
# any test brings OpenVINO, ONNX Runtime or ExecuTorch into this one long process: late loads after
# them crashed the pytest process twice on this machine (SIGSEGV in a docs test that passes alone).
for _module in (
    "timm",
    "yaml",
    "regex",
    "markdown",
    "pymdownx",
    "mkdocs.commands.build",
    "pycocotools.cocoeval",
    "faster_coco_eval",
):
    try:
        importlib.import_module(_module)
    except ImportError:  # an optional extra that is not installed: its tests skip
        pass

# A real `lucid train` run on the digits at their default 32x32: 4 epochs of the full training
# split reach 97 % held-out top-1 (0.94 after 3), so the int8 tests have a model well above
# chance to compare against. Measured 10-13 s on one thread of a busy 2-core machine.
DIGITS_EPOCHS = 4


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Small CPU convolutions run fastest on one thread, the more so on a shared, busy machine.

    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def trained_digits(tmp_path_factory: pytest.TempPathFactory) -> TrainedDigits:
    """``mobilenet_v3_small(in_channels=1, num_classes=10)`` briefly trained by ``lucid.train``.

    One session-wide run (tests must not write into its folder: copy it first). One thread, so
    the numbers the tests rely on are the same on every machine.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("trained_digits") / "run"
        result = train(TrainConfig(epochs=DIGITS_EPOCHS, out=str(out), progress=False))
    finally:
        torch.set_num_threads(threads)
    return TrainedDigits(run=result.out_dir, checkpoint=result.best_checkpoint, best_val_top1=result.best_val_top1)


# --------------------------------------------------------------------------------------------
# The docs site, built once per session from a clean process
# --------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
_SITE_KEY = pytest.StashKey[tuple[subprocess.Popen, Path, Path]]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start ``mkdocs build --strict`` when a collected test needs the site, before any test runs:
    forked later, from the long process that has loaded OpenVINO, ONNX Runtime and ExecuTorch,
    the build's parent crashed (SIGSEGV) on this machine."""
    if any("site" in getattr(item, "fixturenames", ()) for item in session.items):
        start_site_build(session.config)


def start_site_build(config: pytest.Config) -> None:
    if _SITE_KEY in config.stash:
        return
    folder = Path(tempfile.mkdtemp(prefix="lucid-site-"))
    log = folder / "build.log"
    with log.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(folder / "site")],
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        )
    config.stash[_SITE_KEY] = (process, folder / "site", log)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop a build no test waited for and remove the built site: each session's 8 MB folder in
    the temporary directory was left behind before."""
    if _SITE_KEY not in config.stash:
        return
    process, site, _ = config.stash[_SITE_KEY]
    if process.poll() is None:
        process.kill()
        process.wait()
    shutil.rmtree(site.parent, ignore_errors=True)


def finish_site_build(config: pytest.Config) -> tuple[Path, int, str]:
    """The built site's folder, the build's exit status and its output (starting it if needed)."""
    start_site_build(config)
    process, site, log = config.stash[_SITE_KEY]
    returncode = process.wait(timeout=600)
    return site, returncode, log.read_text(errors="replace")


# --------------------------------------------------------------------------------------------
# One tiny finished run of each task, for the hostile tests of every task
# --------------------------------------------------------------------------------------------

TASKS = ("classify", "segment", "detect")


class TinyRun:
    """A finished 2-epoch run of ``task`` on tiny data (tests copy ``run`` before changing it).

    ``data`` is the data folder (None: the embedded digits); ``train_flags`` the flags that give
    another run like it on the command line; ``photo`` one image the model reads.
    """

    def __init__(self, task: str, data: Path | None, run: Path, train_flags: list[str], photo: Path) -> None:
        self.task, self.data, self.run, self.train_flags, self.photo = task, data, run, train_flags, photo

    @property
    def checkpoint(self) -> Path:
        return self.run / "best.safetensors"


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TinyRun]:
    """A :class:`TinyRun` per task: digits at 16x16 (40 images), LR-ASPP on 6 generated shape
    photos, SSDLite on 8 generated box photos. About 10 s in all on one thread."""
    from lucid.detect import DetectConfig
    from lucid.segment import SegmentConfig, make_shapes_dataset

    root = tmp_path_factory.mktemp("tiny_runs")
    shapes = make_shapes_dataset(root / "shapes", train=4, val=2, size=(32, 40), seed=5)
    from drawing_helpers import boxes_folder

    boxes = boxes_folder(root / "boxes", count=8)
    flags = {
        "classify": ["--limit-train", "40", "--limit-val", "16", "--img-size", "16", "--batch-size", "4"],
        "segment": ["--data", str(shapes), "--crop-size", "32x32", "--batch-size", "2"],
        # --workers 0: detection streams, and its default workers would be forked from this pytest
        # process, which the deploy tests fill with native runtime threads (a fork there aborted CI);
        # tests about workers add --workers 1 and train in a fresh process (cli_helpers)
        "detect": [
            *("--data", str(boxes), "--model", "ssdlite320_mobilenet_v3_small"),
            *("--batch-size", "4", "--workers", "0"),
        ],
    }
    configs = {
        "classify": TrainConfig(limit_train=40, limit_val=16, img_size=16, batch_size=4),
        "segment": SegmentConfig(data=str(shapes), crop_size=(32, 32), batch_size=2),
        "detect": DetectConfig(data=str(boxes), model="ssdlite320_mobilenet_v3_small", batch_size=4, workers=0),
    }
    photos = {
        "classify": root / "digit.png",
        "segment": sorted((shapes / "val" / "images").iterdir())[0],
        "detect": boxes / "images" / "p00.jpg",
    }
    from PIL import Image

    Image.new("L", (16, 16), 200).save(photos["classify"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    runs = {}
    try:
        for task, config in configs.items():
            out = root / f"{task}-run"
            train(dataclasses.replace(config, epochs=2, out=str(out), progress=False))
            data = None if task == "classify" else (shapes if task == "segment" else boxes)
            runs[task] = TinyRun(task, data, out, ["--task", task, *flags[task]], photos[task])
    finally:
        torch.set_num_threads(threads)
    return runs
