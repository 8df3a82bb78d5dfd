"""Fixtures shared by the whole suite.

The one BatchNorm randomiser lives in ``tests/reference_helpers.py`` (``randomise_batchnorm``),
importable from every test file because pytest puts ``tests/`` on ``sys.path`` for this conftest.
"""

from __future__ import annotations

import importlib
import os
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
for _module in ("timm", "yaml", "regex", "markdown", "pymdownx", "mkdocs.commands.build", "pycocotools.cocoeval"):
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


def finish_site_build(config: pytest.Config) -> tuple[Path, int, str]:
    """The built site's folder, the build's exit status and its output (starting it if needed)."""
    start_site_build(config)
    process, site, log = config.stash[_SITE_KEY]
    returncode = process.wait(timeout=600)
    return site, returncode, log.read_text(errors="replace")
