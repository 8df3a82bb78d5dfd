"""ExecuTorch programs (``.pte``) with the XNNPACK delegate: what an Android or iOS app loads.

The path is ExecuTorch's own: ``torch.export.export`` -> ``to_edge_transform_and_lower`` with
the ``XnnpackPartitioner`` (every convolution, activation and linear layer runs in XNNPACK's
optimised ARM/x86 kernels) -> ``to_executorch()``. lucid's metadata (preprocessing, class
names) is stored in the program as a constant method, ``lucid_metadata``, returning its JSON,
so the app (and :class:`lucid.deploy.Predictor`) reads it from the one file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
import torch
from torch import nn

from lucid.deploy.runtime import METADATA_METHOD, require

__all__ = ["PTE_SUFFIX", "to_executorch_bytes"]

PTE_SUFFIX = ".pte"


def to_executorch_bytes(model: nn.Module, example: torch.Tensor, metadata: Mapping[str, str]) -> bytes:
    """The ``.pte`` bytes of an eval-mode fp32 ``model`` for inputs shaped like ``example``, lowered
    to XNNPACK, with ``metadata`` as the JSON constant method ``lucid_metadata``."""
    require("executorch", "exporting to ExecuTorch")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    # torch._dynamo logs a deprecation note about an ExecuTorch enum on every export.
    dynamo_log = logging.getLogger("torch.utils._pytree")
    previous = dynamo_log.level
    dynamo_log.setLevel(logging.ERROR)
    try:
        with torch.no_grad():
            program = torch.export.export(model, (example,))
        lowered = to_edge_transform_and_lower(
            program, partitioner=[XnnpackPartitioner()],
            constant_methods={METADATA_METHOD: json.dumps(dict(metadata))},
        )
        return bytes(lowered.to_executorch().buffer)
    finally:
        dynamo_log.setLevel(previous)

