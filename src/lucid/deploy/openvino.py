"""OpenVINO IR files: conversion, lucid's metadata in the runtime info, atomic two-file writes, NNCF int8.

An IR model is two files, ``model.xml`` (the graph) and ``model.bin`` (the weights). lucid
writes both under temporary names in the target folder, verifies them, then renames the
``.bin`` and the ``.xml`` into place: a failure leaves nothing new behind and older files
untouched. The preprocessing and class names go into the IR's runtime info
(``model.set_rt_info(value, ["lucid", key])``), the same keys and JSON values as an ONNX
file's ``metadata_props``, so `lucid.deploy.Predictor` reads either file alike.

Conversion goes through the verified ONNX graph (BatchNorm folded, HardSwish as one operator),
so the ONNX and OpenVINO files hold the same network. Quantization is NNCF's post-training
quantization (``nncf.quantize``), OpenVINO's own int8 path.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lucid.deploy.integrity import no_space_error, publish, remove_stale_temporaries
from lucid.deploy.runtime import OPENVINO_RT_KEY, require
from lucid.errors import ExportError

__all__ = [
    "IR_SUFFIX",
    "classifier_nodes",
    "fold_constants",
    "ir_bytes",
    "nncf_quantize",
    "quiet_nncf",
    "read_openvino_model",
    "save_ir",
    "set_metadata",
    "weights_bytes",
]

IR_SUFFIX = ".xml"


def read_openvino_model(path: str | os.PathLike[str]) -> Any:
    """An ``openvino.Model`` from an ``.onnx`` or ``.xml`` file."""
    ov = require("openvino", "reading a model with OpenVINO")
    return ov.Core().read_model(str(path))


def set_metadata(model: Any, metadata: Mapping[str, str]) -> None:
    """Write ``metadata`` into the model's runtime info under ``lucid`` (one entry per key)."""
    for key, value in metadata.items():
        model.set_rt_info(str(value), [OPENVINO_RT_KEY, key])


def save_ir(model: Any, target: str | os.PathLike[str], verify: Callable[[Path], None] | None = None) -> Path:
    """Write ``model`` as ``target`` (``.xml``) plus its ``.bin`` and their ``.sha256``, fp32
    weights, all or nothing.

    Both files are written in a temporary folder beside ``target``, ``verify(tmp_xml)`` runs on
    them (raise to abandon), then `lucid.deploy.integrity.publish` renames the ``.bin``,
    the ``.xml`` and their digest into place. A full disk is named as such.
    """
    ov = require("openvino", "writing an OpenVINO IR file")
    xml = Path(target).expanduser()
    if xml.suffix.lower() != IR_SUFFIX:
        raise ValueError(
            f"an OpenVINO IR model is written to a .xml file (its weights go to .bin), got {str(target)!r}"
        )
    xml.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(xml)
    workdir = Path(tempfile.mkdtemp(prefix=f".{xml.stem}.", suffix=".tmp", dir=xml.parent))
    try:
        tmp_xml = workdir / xml.name
        ov.save_model(model, str(tmp_xml), compress_to_fp16=False)  # fp16 weights would change the logits
        tmp_bin = tmp_xml.with_suffix(".bin")
        if verify is not None:
            verify(tmp_xml)
        # The weights first: a reader sees either the old pair or, after the second rename, the new one.
        publish([(tmp_bin, xml.with_suffix(".bin")), (tmp_xml, xml)], xml)
    except Exception as exc:
        full = no_space_error(xml, exc, weights_bytes(model))
        if full is not None:
            raise full from exc
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return xml


def weights_bytes(model: Any) -> int:
    """The bytes of ``model``'s constants: about what its ``.bin`` takes on disk."""
    return sum(op.get_byte_size() for op in model.get_ops() if op.get_type_name() == "Constant")


def ir_bytes(model: Any) -> int:
    """The size of ``model`` saved as an IR (``.xml`` + ``.bin``, fp32 weights as `save_ir`
    writes them): the like-for-like baseline of an int8 IR whose source was an ``.onnx`` file."""
    ov = require("openvino", "writing an OpenVINO IR file")
    with tempfile.TemporaryDirectory(prefix="lucid-ir-size-") as workdir:
        xml = Path(workdir) / "model.xml"
        ov.save_model(model, str(xml), compress_to_fp16=False)
        return xml.stat().st_size + xml.with_suffix(".bin").stat().st_size


def classifier_nodes(model: Any) -> list[str]:
    """Friendly names of the node(s) computing the output: the final MatMul, and the Multiply
    (Gemm's alpha) and Add (its bias) OpenVINO's ONNX reader puts after it."""
    node = model.outputs[0].get_node().input_value(0).get_node()
    found: list[str] = []
    while node.get_type_name() in ("Add", "Multiply", "MatMul"):
        found.append(node.get_friendly_name())
        if node.get_type_name() == "MatMul":
            return found
        producers = [v.get_node() for v in node.input_values() if v.get_node().get_type_name() != "Constant"]
        if len(producers) != 1:
            break
        node = producers[0]
    return []


def fold_constants(model: Any) -> Any:
    """Fold constant subgraphs of an ``openvino.Model`` in place (OpenVINO's ``ConstantFolding`` pass).

    An ONNX model read by OpenVINO reshapes each depthwise weight (``[C, 1, k, k]`` to
    GroupConvolution's ``[C, 1, 1, k, k]``) at run time. NNCF stores a weight as int8 only when
    it feeds its FakeQuantize directly, so before folding those weights stayed fp32 (with 5x
    broadcast range constants): mobilenet_v3_small's int8 IR was 0.33x its fp32 file, 0.29x after.
    """
    from openvino.passes import ConstantFolding, Manager

    manager = Manager()
    manager.register_pass(ConstantFolding())
    manager.run_passes(model)
    return model


@contextlib.contextmanager
def quiet_nncf() -> Iterator[None]:
    """NNCF without its noise on the user's terminal: its own step logs, its progress bars (stdout)
    and torch's C++-extension logger naming a CUDA home on machines without CUDA (NNCF loads
    torch's extension helpers). The caller reports the outcome in one line."""
    loggers = [logging.getLogger(name) for name in ("nncf", "torch.utils.cpp_extension")]
    previous = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for log, level in zip(loggers, previous, strict=True):
            log.setLevel(level)


def nncf_quantize(model: Any, images: np.ndarray, batch_size: int, *, quantize_classifier: bool = False) -> Any:
    """NNCF post-training int8 quantization of an ``openvino.Model``, calibrated on preprocessed images.

    Symmetric int8 weights (per channel) and activations (NNCF's ``PERFORMANCE`` preset), with
    NNCF's bias correction. Constants are folded first (`fold_constants`) so every quantized
    weight, the depthwise ones included, is stored as int8. Unless ``quantize_classifier``, the
    classifier computes in fp32 from int8-stored weights (``nncf.compress_weights``, INT8_SYM).
    """
    with quiet_nncf():
        nncf = require("nncf", "quantizing with OpenVINO (NNCF)")
    fold_constants(model)
    batches = [
        np.ascontiguousarray(images[i : i + batch_size]) for i in range(0, len(images) - batch_size + 1, batch_size)
    ]
    if not batches:
        raise ValueError(f"{len(images)} calibration images are fewer than the batch size {batch_size}")
    ignored = None
    if not quantize_classifier:
        names = classifier_nodes(model)
        ignored = nncf.IgnoredScope(names=names) if names else None
    try:
        with quiet_nncf():
            quantized = nncf.quantize(
                model,
                nncf.Dataset(batches),
                preset=nncf.QuantizationPreset.PERFORMANCE,
                subset_size=len(batches) * batch_size,
                ignored_scope=ignored,
            )
            if ignored is None:
                return quantized
            # The classifier computes in fp32 but its weights are stored int8 per channel (NNCF's
            # weight-only compression; it touches only the weights left fp32): a 1000-class classifier
            # is 40 % of mobilenet_v3_small's weights, and fp32 it kept the IR at 0.58x the fp32 IR.
            return nncf.compress_weights(quantized, mode=nncf.CompressWeightsMode.INT8_SYM)
    except Exception as exc:  # noqa: BLE001 - NNCF raises many types; report one lucid error
        raise ExportError(f"NNCF quantization failed: {type(exc).__name__}: {exc}") from exc
