"""``lucid.deploy``: fast, verified inference outside PyTorch's eager mode.

- :func:`export`: ONNX (BatchNorm folded, HardSwish/HardSigmoid as ONNX ops, preprocessing in
  the metadata) or frozen TorchScript, verified against the eager model before it is kept.
- :func:`quantize`: static int8 (QDQ, per-channel) with ONNX Runtime, calibrated on real images,
  with the top-1 agreement/accuracy of int8 vs fp32.
- :class:`Predictor`: an ONNX Runtime session that takes images and returns labels with probabilities.
- :func:`bench`: lucid vs torchvision latency, training throughput and memory, as a Markdown table.
"""

from lucid.deploy.bench import BenchResult, bench
from lucid.deploy.export import ExportResult, VerificationError, export, fold_batchnorm
from lucid.deploy.predictor import Predictor, make_session, session_options
from lucid.deploy.preprocess import Preprocessing, model_preprocessing
from lucid.deploy.quantize import QuantizeResult, quantize

__all__ = [
    "export",
    "ExportResult",
    "VerificationError",
    "fold_batchnorm",
    "quantize",
    "QuantizeResult",
    "Predictor",
    "make_session",
    "session_options",
    "Preprocessing",
    "model_preprocessing",
    "bench",
    "BenchResult",
]
