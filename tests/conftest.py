"""Fixtures shared by the whole suite.

The one BatchNorm randomiser lives in ``tests/reference_helpers.py`` (``randomise_batchnorm``),
importable from every test file because pytest puts ``tests/`` on ``sys.path`` for this conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Small CPU convolutions run fastest on one thread, the more so on a shared, busy machine.

    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
