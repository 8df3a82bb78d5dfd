"""``Predictor``: an ONNX Runtime session that takes images and returns class names with probabilities.

The preprocessing is read from the model file (written by :func:`lucid.deploy.export`), so a
deployed model needs nothing but its ``.onnx`` file. ONNX Runtime runs it with every graph
optimisation on and a configurable number of threads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lucid.deploy.preprocess import ImageLike, Preprocessing, read_classes

__all__ = ["Predictor", "make_session", "run_batches", "session_options", "softmax"]


def _check_threads(threads: int | None) -> int:
    if threads is None:
        return 0  # ONNX Runtime's default: one thread per physical core
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    return threads


def session_options(threads: int | None = None, spinning: bool | None = None) -> Any:
    """ONNX Runtime options for latency: all graph optimisations, sequential execution,
    ``threads`` intra-op threads (None: one per core) and a single inter-op thread.

    ``spinning=False`` makes idle worker threads sleep instead of spin-waiting: slightly slower
    on an idle machine, much faster on a CPU shared with other busy processes. None: ORT's default.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = _check_threads(threads)
    options.inter_op_num_threads = 1
    if spinning is not None:
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3  # errors only: ORT's warnings about unused initialisers are noise here
    return options


def make_session(
    model: str | os.PathLike[str] | bytes,
    threads: int | None = None,
    providers: Sequence[str] | None = None,
    *,
    spinning: bool | None = None,
) -> Any:
    """An ``onnxruntime.InferenceSession`` for a file (or serialised bytes) with :func:`session_options`."""
    import onnxruntime as ort

    if not isinstance(model, bytes):
        path = Path(model).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"no ONNX model at {path}")
        model = str(path)
    available = ort.get_available_providers()
    chosen = list(providers) if providers is not None else ["CPUExecutionProvider"]
    unknown = [p for p in chosen if p not in available]
    if unknown:
        raise ValueError(f"ONNX Runtime providers {unknown} are not available here; available: {available}")
    try:
        return ort.InferenceSession(model, session_options(threads, spinning), providers=chosen)
    except Exception as exc:  # ORT raises its own exception types for unreadable or invalid models
        if type(exc).__module__.startswith("onnxruntime"):
            raise ValueError(f"ONNX Runtime cannot load {model if isinstance(model, str) else 'the model'}: {exc}") from None
        raise


def run_batches(session: Any, batch: np.ndarray, fixed: int | None = None, chunk: int = 64) -> np.ndarray:
    """The session's first output for ``batch``, fed ``fixed`` images at a time for a model with a
    static batch size, else in chunks of ``chunk`` (bounded memory for large evaluations)."""
    step = fixed or chunk
    if fixed and len(batch) % fixed:
        raise ValueError(f"the model takes batches of exactly {fixed}; got {len(batch)} images (export with --dynamic-batch)")
    name, output = session.get_inputs()[0].name, session.get_outputs()[0].name
    parts = [session.run([output], {name: batch[i : i + step]})[0] for i in range(0, len(batch), step)]
    return np.concatenate(parts)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class Predictor:
    """Classify images with an exported ONNX model and its recorded preprocessing.

    >>> predictor = Predictor("model.onnx", threads=2)
    >>> predictor.predict(["cat.jpg"], topk=3)   # [[("tabby", 0.61), ("tiger cat", 0.2), ...]]

    ``threads``: intra-op threads (None: one per core). ``providers``: ONNX Runtime execution
    providers (default CPU). ``preprocessing``/``classes`` override what the file recorded;
    ``spinning=False`` suits a CPU shared with other busy processes (see :func:`session_options`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        threads: int | None = None,
        providers: Sequence[str] | None = None,
        *,
        preprocessing: Preprocessing | None = None,
        classes: Sequence[str] | None = None,
        spinning: bool | None = None,
    ) -> None:
        self.path = Path(path).expanduser()
        if self.path.suffix.lower() != ".onnx":
            raise ValueError(f"Predictor runs .onnx models, got {str(path)!r}")
        self.session = make_session(self.path, threads, providers, spinning=spinning)
        props = dict(self.session.get_modelmeta().custom_metadata_map)
        self.metadata = props
        self.preprocessing = preprocessing or Preprocessing.from_metadata(props, source=str(self.path))
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1:
            raise ValueError(f"{self.path}: a classifier has one input, this model has {len(inputs)}")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.input_shape = tuple(inputs[0].shape)
        # A static batch dimension (an export without --dynamic-batch) is fed that many at a time.
        self.fixed_batch = self.input_shape[0] if isinstance(self.input_shape[0], int) else None
        self.num_classes = outputs[0].shape[-1] if isinstance(outputs[0].shape[-1], int) else None
        names = list(classes) if classes is not None else read_classes(props)
        if names is not None and self.num_classes is not None and len(names) != self.num_classes:
            raise ValueError(f"{len(names)} class names for a model with {self.num_classes} outputs")
        self.classes = names
        self._check_input_shape()

    def _check_input_shape(self) -> None:
        expected = (self.preprocessing.in_channels, *self.preprocessing.image_size)
        static = tuple(d if isinstance(d, int) else None for d in self.input_shape[1:])
        if len(static) != 3 or any(s is not None and s != e for s, e in zip(static, expected)):
            raise ValueError(f"{self.path}: input shape {self.input_shape} does not fit the preprocessing's {expected}")

    def __repr__(self) -> str:
        return f"Predictor({str(self.path)!r}, input={self.input_shape}, classes={self.num_classes})"

    def preprocess(self, images: ImageLike | Sequence[ImageLike]) -> np.ndarray:
        """The model's ``(N, C, H, W)`` float32 input for one image or a sequence of images."""
        return self.preprocessing(images)

    def logits(self, batch: np.ndarray | torch.Tensor) -> np.ndarray:
        """Raw outputs for an already preprocessed ``(N, C, H, W)`` batch."""
        if isinstance(batch, torch.Tensor):
            batch = batch.detach().cpu().numpy()
        array = np.ascontiguousarray(batch, dtype=np.float32)
        expected = (self.preprocessing.in_channels, *self.preprocessing.image_size)
        if array.ndim != 4 or tuple(array.shape[1:]) != expected:
            raise ValueError(f"expected a batch of shape (N, {', '.join(map(str, expected))}), got {array.shape}")
        return run_batches(self.session, array, self.fixed_batch)

    __call__ = logits

    def probabilities(self, images: ImageLike | Sequence[ImageLike]) -> np.ndarray:
        """Softmax probabilities ``(N, num_classes)`` for images."""
        return softmax(self.logits(self.preprocess(images)))

    def label(self, index: int) -> str:
        """The class name of output ``index`` (its number when the file records no names)."""
        return self.classes[index] if self.classes is not None else str(index)

    def predict(self, images: ImageLike | Sequence[ImageLike], topk: int = 5) -> list[list[tuple[str, float]]]:
        """Per image, the ``topk`` most probable ``(label, probability)`` pairs, most probable first."""
        if not isinstance(topk, int) or isinstance(topk, bool) or topk < 1:
            raise ValueError(f"topk must be a positive integer, got {topk!r}")
        probs = self.probabilities(images)
        k = min(topk, probs.shape[1])
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        return [[(self.label(int(i)), float(row[i])) for i in idx] for row, idx in zip(probs, order)]
