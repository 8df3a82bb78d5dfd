"""What a deployment benchmark measures, as data: the contenders, the row records and
`BenchResult`, which round-trips through JSON so that a run can be reported or judged later
(`lucid.deploy.report`, ``benchmarks/``) without measuring again."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BASELINE",
    "CONTENDERS",
    "DETECTION_CONTENDERS",
    "DETECTOR",
    "TRAIN_CONTENDERS",
    "BenchResult",
    "LatencyRow",
    "MemoryRow",
    "OperatorRow",
    "TrainRow",
]

BENCH_MODELS = ("mobilenet_v3_small", "mobilenet_v3_large")
CONTENDERS = (
    "torchvision eager",
    "lucid eager",
    "lucid eager channels-last",
    "TorchScript frozen",
    "ONNX Runtime fp32",
    "ONNX Runtime int8",
    "OpenVINO fp32",
    "OpenVINO int8",
    "OpenVINO bf16",
    "ExecuTorch XNNPACK",
)
OPENVINO_CONTENDERS = ("OpenVINO fp32", "OpenVINO int8", "OpenVINO bf16")
# OpenVINO's own default precision on CPUs with bf16 instructions; shown beside fp32 where the CPU
# has them (elsewhere bf16 is emulated and says nothing). Not fp32, so no fp32 target judges it.
BF16 = "OpenVINO bf16"
EXECUTORCH = "ExecuTorch XNNPACK"  # batch 1 only: a .pte program has a fixed batch
# The training layout `lucid train` uses by default (TrainConfig.channels_last); the benchmark
# records it in its settings rather than importing the training package.
TRAIN_DEFAULT_CONTENDER = "lucid channels-last"
TRAIN_CONTENDERS = ("torchvision", "lucid", "lucid channels-last")
BASELINE = "torchvision eager"
DETECTOR = "ssdlite320_mobilenet_v3_large"
# The detection row: torchvision's eager SSDLite (its own resize, normalisation and NMS) against
# lucid's exported file run by Predictor (the same resize and normalisation, NMS on the host).
DETECTION_CONTENDERS = (
    "torchvision eager",
    "lucid ONNX Runtime",
    "lucid OpenVINO",
    "lucid ONNX Runtime int8",
    "lucid OpenVINO int8",
)
BLOCK_S = 0.25  # seconds of timed calls per contender per round
PAUSE_S = 0.02  # idle time before each block


@dataclass(frozen=True)
class LatencyRow:
    """One contender's inference times for one model and batch size (seconds per call)."""

    model: str
    batch: int
    contender: str
    median_s: float
    samples: tuple[float, ...]
    speedup: float  # torchvision eager's median / this median

    @property
    def images_per_s(self) -> float:
        return self.batch / self.median_s


@dataclass(frozen=True)
class TrainRow:
    """Training throughput of one contender: median SGD step time at ``batch``."""

    model: str
    batch: int
    contender: str
    median_s: float
    samples: tuple[float, ...]
    ratio: float  # this images/s over torchvision's

    @property
    def images_per_s(self) -> float:
        return self.batch / self.median_s


@dataclass(frozen=True)
class MemoryRow:
    """Peak resident memory of a fresh process running one contender (MiB)."""

    model: str
    batch: int
    contender: str
    peak_mib: float
    increase_mib: float


@dataclass(frozen=True)
class OperatorRow:
    """ONNX Runtime's own kernel time for one operator type of one file (ms per call, summed over nodes)."""

    model: str
    batch: int
    file: str  # "fp32" or "int8"
    op_type: str
    nodes: int
    ms: float


@dataclass
class BenchResult:
    """Everything one `bench` run measured, and its Markdown report."""

    machine: dict[str, Any]
    settings: dict[str, Any]
    latency: list[LatencyRow] = field(default_factory=list)
    training: list[TrainRow] = field(default_factory=list)
    memory: list[MemoryRow] = field(default_factory=list)
    operators: list[OperatorRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    detection: list[LatencyRow] = field(default_factory=list)  # the SSDLite row: batch 1, DETECTION_CONTENDERS

    def latency_of(self, model: str, batch: int, contender: str) -> LatencyRow | None:
        return next((r for r in self.latency if (r.model, r.batch, r.contender) == (model, batch, contender)), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (rows as dicts)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchResult:
        def rows(kind: type, items: list[dict[str, Any]]) -> list[Any]:
            return [
                kind(**{**item, **({"samples": tuple(item["samples"])} if "samples" in item else {})}) for item in items
            ]

        return cls(
            machine=data["machine"],
            settings=data["settings"],
            latency=rows(LatencyRow, data["latency"]),
            training=rows(TrainRow, data["training"]),
            memory=rows(MemoryRow, data["memory"]),
            operators=rows(OperatorRow, data.get("operators", [])),
            notes=data["notes"],
            detection=rows(LatencyRow, data.get("detection", [])),
        )
