"""ExecuTorch programs (``.pte``) with the XNNPACK delegate: what an Android or iOS app loads.

The path is ExecuTorch's own: ``torch.export.export`` -> ``to_edge_transform_and_lower`` with
the ``XnnpackPartitioner`` (every convolution, activation and linear layer runs in XNNPACK's
optimised ARM/x86 kernels) -> ``to_executorch()``. lucid's metadata (preprocessing, class
names) is stored in the program as a constant method, ``lucid_metadata``, returning its JSON,
so the app (and `lucid.deploy.Predictor`) reads it from the one file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from lucid.deploy.runtime import METADATA_METHOD, require

__all__ = ["PTE_SUFFIX", "to_executorch_bytes", "to_quantized_executorch_bytes"]

PTE_SUFFIX = ".pte"


def to_executorch_bytes(model: nn.Module, example: torch.Tensor, metadata: Mapping[str, str]) -> bytes:
    """The ``.pte`` bytes of an eval-mode fp32 ``model`` for inputs shaped like ``example``, lowered
    to XNNPACK, with ``metadata`` as the JSON constant method ``lucid_metadata``."""
    require("executorch", "exporting to ExecuTorch")
    # torch's pytree logs a deprecation note when ExecuTorch registers one of its enums (on import).
    pytree_log = logging.getLogger("torch.utils._pytree")
    previous = pytree_log.level
    pytree_log.setLevel(logging.ERROR)
    try:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        with torch.no_grad():
            program = torch.export.export(model, (example,))
        lowered = to_edge_transform_and_lower(
            program,
            partitioner=[XnnpackPartitioner()],
            constant_methods={METADATA_METHOD: json.dumps(dict(metadata))},
        )
        return bytes(lowered.to_executorch().buffer)
    finally:
        pytree_log.setLevel(previous)


def to_quantized_executorch_bytes(
    model: nn.Module, example: torch.Tensor, calibration: np.ndarray, metadata: Mapping[str, str]
) -> bytes:
    """The ``.pte`` bytes of ``model`` quantized to int8 by ExecuTorch's XNNPACK quantizer, lowered to XNNPACK.

    PyTorch 2 export quantization (torchao's ``prepare_pt2e`` / ``convert_pt2e``) with the
    ``XNNPACKQuantizer``'s symmetric per-channel int8 configuration, calibrated by running the
    ``(N, C, H, W)`` float32 ``calibration`` images (preprocessed) through the prepared graph.
    """
    require("executorch", "quantizing for ExecuTorch")
    require("torchao", "quantizing for ExecuTorch")
    pytree_log = logging.getLogger("torch.utils._pytree")
    previous = pytree_log.level
    pytree_log.setLevel(logging.ERROR)
    try:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )
        from executorch.exir import to_edge_transform_and_lower
        from torchao.quantization.pt2e.quantize_pt2e import (  # type: ignore[import-untyped]
            convert_pt2e,
            prepare_pt2e,
        )

        step = example.shape[0]
        with torch.no_grad():
            captured = torch.export.export(model, (example,)).module()
            quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
            prepared = prepare_pt2e(captured, quantizer)
            for start in range(0, len(calibration) - step + 1, step):
                prepared(torch.from_numpy(np.ascontiguousarray(calibration[start : start + step])))
            converted = convert_pt2e(prepared)
            program = torch.export.export(converted, (example,))
        lowered = to_edge_transform_and_lower(
            program,
            partitioner=[XnnpackPartitioner()],
            constant_methods={METADATA_METHOD: json.dumps(dict(metadata))},
        )
        return bytes(lowered.to_executorch().buffer)
    finally:
        pytree_log.setLevel(previous)
