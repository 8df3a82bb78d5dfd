"""Fixtures shared by the whole suite.

The one BatchNorm randomiser lives in ``tests/reference_helpers.py`` (``randomise_batchnorm``),
importable from every test file because pytest puts ``tests/`` on ``sys.path`` for this conftest.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator

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
