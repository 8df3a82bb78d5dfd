"""``Predictor``: a model file in its fastest runtime, taking images and returning each image's result
(class names with probabilities, class masks, ...): what the file's recorded task makes of its outputs.

The preprocessing is read from the model file (written by `lucid.deploy.export`), so a
deployed model needs nothing but its file: ``.onnx`` (ONNX Runtime or OpenVINO), ``.xml``
(OpenVINO IR) or ``.pte`` (ExecuTorch). ``backend="auto"`` runs ``.onnx`` on OpenVINO on x86
CPUs when it is installed (1.3-1.9x faster than ONNX Runtime on the same file in lucid's
benchmark) and on ONNX Runtime elsewhere. A file with a ``.sha256`` digest beside it (every
lucid export has one) is checked against it first: a changed byte is refused, not run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lucid.deploy.integrity import check_digest
from lucid.deploy.preprocess import ImageLike, Preprocessing, read_classes
from lucid.deploy.runtime import load_runtime_model, make_session, run_batches, session_options, softmax, task_for
from lucid.errors import DataError

__all__ = ["Predictor", "as_float32_batch", "make_session", "run_batches", "session_options", "softmax"]

# dtypes converted to the float32 every exported model takes (numpy has no bfloat16; torch tensors do)
_FLOAT_DTYPES = (np.float16, np.float32, np.float64)


@contextmanager
def one_host_thread() -> Iterator[None]:
    """Run the torch work around a runtime call (resizing a photo, NMS) on one thread.

    For runtimes whose threads busy-wait just after a run (ONNX Runtime's default): torch's
    threads would queue behind them, and a resize that takes under a millisecond alone then takes
    several. Where the runtime's threads sleep (OpenVINO), torch's own count is faster and is kept
    (docs/detection.md, "Speed"). The setting is the calling thread's and is restored on exit.
    """
    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def as_float32_batch(batch: np.ndarray | torch.Tensor) -> np.ndarray:
    """A contiguous float32 numpy array of a float batch (fp16, bf16, fp32 or fp64, numpy or torch).

    Exported models take float32; other float types are converted (fp64 rounds, fp16/bf16 widen
    exactly). Anything else (integers, bool, complex) is a DataError: a preprocessed batch is
    normalised floats, and raw uint8 pixels belong in `Predictor.predict`.
    """
    if isinstance(batch, torch.Tensor):
        if not batch.is_floating_point():
            raise DataError(
                f"a preprocessed batch must be floating point, got a torch.{str(batch.dtype).removeprefix('torch.')} "
                "tensor (images go to Predictor.predict / probabilities)"
            )
        batch = batch.detach().cpu().to(torch.float32).numpy()
    array = np.asarray(batch)
    if array.dtype.type not in _FLOAT_DTYPES:
        raise DataError(
            f"a preprocessed batch must be float16/32/64, got dtype {array.dtype} "
            "(images go to Predictor.predict / probabilities)"
        )
    return np.ascontiguousarray(array, dtype=np.float32)


class Predictor:
    """Run an exported model file on images with its recorded preprocessing and task.

    The task (``task`` metadata, read after the digest check) supplies the per-image results
    (`lucid.tasks.get_task`): a classifier's top-k labels, a segmenter's class masks.

    >>> predictor = Predictor("model.onnx", threads=2)
    >>> predictor.predict(["cat.jpg"], topk=3)   # [[("tabby", 0.61), ("tiger cat", 0.2), ...]]

    ``backend``: ``"auto"`` (OpenVINO for ``.onnx`` on x86 when installed, else ONNX Runtime;
    OpenVINO for ``.xml``; ExecuTorch for ``.pte``), ``"onnxruntime"``, ``"openvino"`` or
    ``"executorch"``. ``threads``: inference threads (None: one per core). ``providers``: ONNX
    Runtime execution providers (default CPU). ``preprocessing``/``classes`` override what the
    file recorded; ``spinning=False`` suits a CPU shared with other busy processes (ONNX Runtime,
    see `session_options`). ``verify_digest``: None checks ``<file>.sha256`` when it exists,
    True requires it, False skips the check. ``precision`` (OpenVINO only): ``"f32"`` computes like
    the file; ``"bf16"`` is faster on CPUs with bf16 instructions (AVX512_BF16, AMX) and moves the
    logits slightly (0.1 % of the largest logit on the digits model).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        threads: int | None = None,
        providers: Sequence[str] | None = None,
        *,
        backend: str = "auto",
        preprocessing: Preprocessing | None = None,
        classes: Sequence[str] | None = None,
        spinning: bool | None = None,
        verify_digest: bool | None = None,
        precision: str = "f32",
    ) -> None:
        self.path = Path(path).expanduser()
        if self.path.suffix.lower() not in (".onnx", ".xml", ".pte"):
            raise ValueError(f"Predictor runs .onnx, .xml (OpenVINO IR) or .pte (ExecuTorch) models, got {str(path)!r}")
        if not self.path.is_file():
            raise FileNotFoundError(f"no model file at {self.path}")
        if verify_digest is not False:
            check_digest(self.path, required=bool(verify_digest))
        self.runtime = load_runtime_model(
            self.path, backend, threads, providers, spinning=spinning, precision=precision
        )
        self.backend: str = self.runtime.backend
        props = dict(self.runtime.metadata)
        self.metadata = props
        self.preprocessing = preprocessing or Preprocessing.from_metadata(props, source=str(self.path))
        self.input_shape = tuple(self.runtime.input_shape)
        # A static batch dimension (an export without --dynamic-batch) is fed that many at a time.
        self.fixed_batch = self.input_shape[0]
        self.task_handler = task_for(props, str(self.path))  # read after the digest check
        self.task: str = self.task_handler.name
        shapes = getattr(self.runtime, "output_shapes", [(None, self.runtime.num_classes)])
        self.num_classes = self.task_handler.check_outputs(shapes, str(self.path))
        names = list(classes) if classes is not None else read_classes(props)
        if names is not None and self.num_classes is not None and len(names) != self.num_classes:
            raise ValueError(f"{len(names)} class names for a model with {self.num_classes} outputs")
        self.classes = names
        self._check_input_shape()

    @property
    def session(self) -> Any:
        """The ONNX Runtime session (backend ``onnxruntime`` only)."""
        if self.backend != "onnxruntime":
            raise AttributeError(f"Predictor.session is ONNX Runtime's; this predictor runs on {self.backend}")
        return self.runtime.session

    def _check_input_shape(self) -> None:
        expected = (self.preprocessing.in_channels, *self.preprocessing.image_size)
        static = tuple(d if isinstance(d, int) else None for d in self.input_shape[1:])
        if len(static) != 3 or any(s is not None and s != e for s, e in zip(static, expected, strict=True)):
            raise ValueError(f"{self.path}: input shape {self.input_shape} does not fit the preprocessing's {expected}")

    def __repr__(self) -> str:
        return (
            f"Predictor({str(self.path)!r}, task={self.task!r}, backend={self.backend!r}, input={self.input_shape}, "
            f"classes={self.num_classes})"
        )

    def preprocess(self, images: ImageLike | Sequence[ImageLike]) -> np.ndarray:
        """The model's ``(N, C, H, W)`` float32 input for one image or a sequence of images."""
        return self.preprocessing(images)

    def logits(self, batch: np.ndarray | torch.Tensor) -> np.ndarray:
        """Raw outputs for an already preprocessed ``(N, C, H, W)`` batch."""
        array = as_float32_batch(batch)
        expected = (self.preprocessing.in_channels, *self.preprocessing.image_size)
        free = [d is None for d in self.input_shape[1:]] if len(self.input_shape) == 4 else [False] * 3
        fits = array.ndim == 4 and len(array) > 0
        fits = fits and all(f or got == e for f, got, e in zip(free, array.shape[1:], expected, strict=True))
        if not fits:
            raise DataError(f"expected a batch of shape (N >= 1, {', '.join(map(str, expected))}), got {array.shape}")
        return np.asarray(self.runtime.run(array))

    __call__ = logits

    def probabilities(self, images: ImageLike | Sequence[ImageLike]) -> np.ndarray:
        """Softmax probabilities ``(N, num_classes)`` for images (a classification export)."""
        if self.task != "classify":
            raise DataError(
                f"{self.path} is a {self.task!r} model: predict() gives its results; probabilities() are a classifier's"
            )
        return softmax(self.logits(self.preprocess(images)))

    def label(self, index: int) -> str:
        """The class name of output ``index`` (``class N`` when the file records no names, as for a
        checkpoint without them)."""
        return self.classes[index] if self.classes is not None else f"class {index}"

    def predict(self, images: ImageLike | Sequence[ImageLike], topk: int = 5, **task_options: Any) -> list[Any]:
        """Per image, the task's result: for classification the ``topk`` most probable
        ``(label, probability)`` pairs, most probable first; for segmentation the ``(H, W)`` uint8
        class mask at the image's own size (names in ``classes``); for detection torchvision's
        dict of ``boxes`` (xyxy in the photo's own pixels), ``scores``, ``labels`` and ``names``
        (``score_threshold=`` keeps the boxes scoring at least that; NMS runs here, on the host,
        in the task's postprocess).

        The images go through the task's `prepare_batches`, the runtime
        (every output of the file), and its `postprocess`;
        ``task_options`` go to the postprocess.
        """
        if isinstance(images, (list, tuple)) and not images:
            raise ValueError("no images given")
        options: dict[str, Any] = {"topk": topk, "classes": self.classes, **task_options}
        results: list[Any] = []
        host = one_host_thread if getattr(self.runtime, "spins_after_run", False) else nullcontext
        with host():
            batches = self.task_handler.prepare_batches(images, self.preprocessing, self.input_shape)
        for batch, batch_options in batches:
            outputs = [np.asarray(o) for o in self.runtime.run_all(as_float32_batch(batch))]
            with host():
                results += self.task_handler.postprocess(outputs, self.metadata, **options, **batch_options)
        return results
