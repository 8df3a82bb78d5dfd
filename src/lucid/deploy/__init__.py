"""``lucid.deploy``: fast, verified inference outside PyTorch's eager mode.

- `export`: ONNX (BatchNorm folded, HardSwish/HardSigmoid as ONNX ops, preprocessing in
  the metadata), OpenVINO IR (same graph, metadata in its runtime info), ExecuTorch ``.pte``
  (XNNPACK delegate) or frozen TorchScript, verified against the eager model before it is kept,
  with a ``.sha256`` digest beside it. `export_all` writes every available format and
  measures each against eager on real images (the deployment matrix).
- `quantize`: static int8, with ONNX Runtime (QDQ, per-channel) or OpenVINO (NNCF),
  calibrated on real images, with the top-1 agreement/accuracy of int8 vs fp32.
- `evaluate_file`: an exported file's task score (top-1, mIoU, mAP) on labelled images, in its
  runtime (``lucid eval FILE``).
- `Predictor`: a model file in its runtime (OpenVINO, ONNX Runtime or ExecuTorch) that
  takes images and returns labels with probabilities.
- `bench`: lucid vs torchvision latency, training throughput and memory, as a Markdown table.
"""

from lucid.deploy.bench import BenchResult, bench
from lucid.deploy.export import ExportResult, VerificationError, export, fold_batchnorm
from lucid.deploy.integrity import check_digest, write_digest
from lucid.deploy.matrix import MatrixRow, export_all
from lucid.deploy.predictor import Predictor, make_session, session_options
from lucid.deploy.preprocess import Preprocessing, model_preprocessing
from lucid.deploy.quantize import QuantizeResult, quantize
from lucid.deploy.runtime import choose_backend
from lucid.deploy.score import FileScore, evaluate_file

__all__ = [
    "evaluate_file",
    "FileScore",
    "export",
    "export_all",
    "ExportResult",
    "MatrixRow",
    "VerificationError",
    "fold_batchnorm",
    "quantize",
    "QuantizeResult",
    "Predictor",
    "choose_backend",
    "check_digest",
    "write_digest",
    "make_session",
    "session_options",
    "Preprocessing",
    "model_preprocessing",
    "bench",
    "BenchResult",
]
