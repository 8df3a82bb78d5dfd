"""int8 file sizes: ``lucid.deploy.quantize`` writes files at most 0.3x the fp32 file of the same format.

File sizes are deterministic (they depend on the network's shapes, not on its weights or timing),
so randomly initialised models calibrated on a few random images show what a trained model gets.
Accuracy after quantization is measured on trained models in ``benchmarks/bench.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from lucid.deploy import export, quantize
from lucid.deploy.runtime import available
from lucid.models import create_model
from reference_helpers import randomise_batchnorm

needs_openvino = pytest.mark.skipif(
    not available("openvino") or not available("nncf"),
    reason="OpenVINO/NNCF not installed (pip install 'lucid[deploy]')",
)
SIZE = 32  # the file size does not depend on the image size; small images keep calibration quick


def _exported(tmp_path: Path, name: str, num_classes: int, in_channels: int) -> Path:
    """``name`` with random weights (BatchNorm perturbed) exported to ONNX at SIZE px, batch 1."""
    torch.manual_seed(0)
    model = randomise_batchnorm(create_model(name, num_classes=num_classes, in_channels=in_channels), seed=1).eval()
    stats = [0.5] * in_channels, [0.25] * in_channels
    return export(model, tmp_path / f"{name}.onnx", image_size=SIZE, mean=stats[0], std=stats[1]).path


def _calibration(in_channels: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((8, in_channels, SIZE, SIZE)).astype(np.float32)


@pytest.mark.parametrize(
    ("name", "num_classes", "in_channels"),
    [("mobilenet_v3_small", 1000, 3), ("mobilenet_v3_large", 10, 1)],
)
def test_onnxruntime_int8_file_is_at_most_0_3x_fp32(
    tmp_path: Path, name: str, num_classes: int, in_channels: int
) -> None:
    source = _exported(tmp_path, name, num_classes, in_channels)
    result = quantize(source, tmp_path / "int8.onnx", _calibration(in_channels), num_calib=8, num_eval=8)
    assert result.fp32_bytes == source.stat().st_size
    assert result.int8_bytes == (tmp_path / "int8.onnx").stat().st_size
    assert result.int8_bytes <= 0.3 * result.fp32_bytes, f"{result.int8_bytes / result.fp32_bytes:.3f}x"


def test_onnxruntime_classifier_computes_in_fp32_from_int8_stored_weights(tmp_path: Path) -> None:
    """The classifier stays out of int8 computation (an fp32 Gemm) but its weights are stored as
    per-output-channel int8, dequantized to within half a step of the fp32 weights."""
    source = _exported(tmp_path, "mobilenet_v3_small", 1000, 3)
    quantize(source, tmp_path / "int8.onnx", _calibration(3), num_calib=8, num_eval=8)
    fp32 = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(source)).graph.initializer}
    graph = onnx.load(str(tmp_path / "int8.onnx")).graph
    stored = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    classifier = producer[graph.output[0].name]
    assert classifier.op_type == "Gemm"
    weight = producer.get(classifier.input[1])
    assert weight is not None and weight.op_type == "DequantizeLinear"
    assert graph.output[0].name == classifier.output[0]  # no QuantizeLinear after the classifier: fp32 logits
    values, scale = stored[weight.input[0]], stored[weight.input[1]]
    assert values.dtype == np.int8 and values.shape == (1000, 1024) and scale.shape == (1000,)
    original = next(array for array in fp32.values() if array.shape == (1000, 1024))
    error = np.abs(values.astype(np.float32) * scale[:, None] - original)
    assert (error <= scale[:, None] / 2 + 1e-7).all()
    assert not any(array.dtype == np.float32 and array.size >= 1000 * 1024 for array in stored.values())


@needs_openvino
@pytest.mark.parametrize(
    ("name", "num_classes"),
    [pytest.param("mobilenet_v3_large", 10, marks=pytest.mark.slow), ("mobilenet_v3_small", 1000)],  # large: ~11 s
)
def test_openvino_int8_ir_is_at_most_0_3x_the_fp32_ir(tmp_path: Path, name: str, num_classes: int) -> None:
    """Against the fp32 IR (like with like) though the source is an .onnx file; every quantized
    weight, the depthwise ones included, is stored as int8 (constants folded before NNCF)."""
    import openvino as ov

    source = _exported(tmp_path, name, num_classes, 3)
    result = quantize(source, tmp_path / "int8.xml", _calibration(3), backend="openvino", num_calib=8, num_eval=8)
    fp32_ir = tmp_path / "fp32.xml"
    ov.save_model(ov.Core().read_model(str(source)), str(fp32_ir), compress_to_fp16=False)
    ir = fp32_ir.stat().st_size + fp32_ir.with_suffix(".bin").stat().st_size
    assert abs(result.fp32_bytes - ir) <= 0.01 * ir  # the fp32 IR (the XML text may differ by a few names)
    assert result.fp32_bytes != source.stat().st_size
    written = tmp_path / "int8.xml"
    assert result.int8_bytes == written.stat().st_size + written.with_suffix(".bin").stat().st_size
    assert result.int8_bytes <= 0.3 * result.fp32_bytes, f"{result.int8_bytes / result.fp32_bytes:.3f}x"
    depthwise = [
        op
        for op in ov.Core().read_model(str(written)).get_ops()
        if op.get_type_name() == "GroupConvolution" and op.input_value(1).get_node().get_type_name() == "FakeQuantize"
    ]
    assert not depthwise, "depthwise weights left in fp32 behind a FakeQuantize"


@needs_openvino
def test_openvino_classifier_is_found_and_computes_in_fp32_from_int8_weights(tmp_path: Path) -> None:
    """OpenVINO reads an ONNX Gemm as MatMul -> Multiply (alpha) -> Add (bias); all three are the
    classifier. Kept out of int8 computation, its input is not fake-quantized, and its weights are
    stored int8 (the IR stays <= 0.3x though the classifier is 40 % of the weights)."""
    import openvino as ov

    from lucid.deploy.openvino import classifier_nodes, fold_constants

    source = _exported(tmp_path, "mobilenet_v3_small", 1000, 3)
    names = classifier_nodes(fold_constants(ov.Core().read_model(str(source))))  # as nncf_quantize does
    assert len(names) == 3 and names[0] == "logits"
    result = quantize(source, tmp_path / "int8.xml", _calibration(3), backend="openvino", num_calib=8, num_eval=8)
    model = ov.Core().read_model(str(result.path))
    matmul = next(op for op in model.get_ops() if op.get_friendly_name() == names[-1])
    assert matmul.input_value(0).get_node().get_type_name() != "FakeQuantize"
    weights = [
        op
        for op in model.get_ops()
        if op.get_type_name() == "Constant" and list(op.get_output_shape(0)) == [1000, 1024]
    ]
    assert [str(op.get_output_element_type(0)) for op in weights] == ["<Type: 'int8_t'>"]
    assert result.int8_bytes <= 0.3 * result.fp32_bytes
