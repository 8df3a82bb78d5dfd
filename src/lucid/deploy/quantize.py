"""Static int8 post-training quantization, with ONNX Runtime's quantizer or OpenVINO's NNCF, checked against fp32.

``quantize`` calibrates activation ranges on real images (a folder, or the embedded digits) and
writes, with ``backend="onnxruntime"``, a QDQ ``.onnx`` model with per-channel int8 weights and
uint8 activations (the layout ONNX Runtime's x86 kernels are fastest with) or, with
``backend="openvino"``, an OpenVINO IR ``.xml`` quantized by NNCF's post-training quantization.
Either way it reports how often the int8 model's top-1 agrees with the fp32 model's, plus both
models' top-1 accuracy where the images have labels, and honours ``max_top1_drop``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lucid.deploy.integrity import (
    check_digest,
    check_model_output,
    default_model_path,
    model_files,
    write_with_digest,
)
from lucid.deploy.preprocess import Preprocessing
from lucid.deploy.runtime import OnnxRuntimeModel, OpenVINOModel, task_for
from lucid.errors import DataError, ExportError
from lucid.tasks import CalibrationPicks, get_task

__all__ = [
    "CALIBRATION_METHODS",
    "QUANTIZE_BACKENDS",
    "LabelledImages",
    "ArrayCalibrationReader",
    "QuantizeResult",
    "calibration_sets",
    "default_int8_path",
    "quantize",
    "quantize_executorch",
    "seeded_pick",
]

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
QUANTIZE_BACKENDS = ("onnxruntime", "openvino", "executorch")
IR_SUFFIX = ".xml"
OUT_SUFFIX = {"onnxruntime": ".onnx", "openvino": IR_SUFFIX, "executorch": ".pte"}
DIGITS = "digits"


def default_int8_path(source: Any, backend: str) -> Path:
    """Where ``backend``'s int8 model of ``source`` goes when no path is given: beside it, as
    ``STEM.int8`` plus the backend's suffix (``digits.onnx`` to ``digits.int8.onnx``)."""
    if backend not in QUANTIZE_BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(QUANTIZE_BACKENDS)}, got {backend!r}")
    return default_model_path(source, ".int8" + OUT_SUFFIX[backend])


# what the agreement counts, per task metric (detection: boxes scoring >= 0.3 found again)
AGREEMENT_WORDS = {"top-1": "top-1", "mIoU": "pixel", "mAP": "box"}


@dataclass(frozen=True)
class LabelledImages:
    """Preprocessed ``(N, C, H, W)`` float32 images, their labels (model output indices) if known."""

    images: np.ndarray
    labels: np.ndarray | None
    description: str

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class QuantizeResult:
    """What `quantize` wrote and how the int8 model compares with the fp32 one."""

    path: Path
    calibration: str
    evaluation: str
    num_calib: int
    num_eval: int
    agreement: float
    fp32_top1: float | None
    int8_top1: float | None
    fp32_bytes: int
    int8_bytes: int
    seconds: float
    backend: str = "onnxruntime"
    metric: str = "top-1"  # the task's score fp32_top1/int8_top1 hold (segmentation: mIoU)

    @property
    def top1_drop(self) -> float | None:
        """fp32 minus int8 score (``metric``: top-1, mIoU), in percentage points (None without labels)."""
        if self.fp32_top1 is None or self.int8_top1 is None:
            return None
        return 100.0 * (self.fp32_top1 - self.int8_top1)

    def summary(self) -> str:
        """Console lines: the file, the agreement, the accuracies."""
        lines = [
            f"wrote {self.path} ({self.backend}; {self.int8_bytes / 1e6:.2f} MB, fp32 {self.fp32_bytes / 1e6:.2f} MB); "
            f"calibrated on {self.num_calib} images: {self.calibration}",
            f"{AGREEMENT_WORDS.get(self.metric, 'output')} agreement with fp32 on {self.num_eval} images "
            f"({self.evaluation}): {100 * self.agreement:.2f} %",
        ]
        if self.fp32_top1 is not None and self.int8_top1 is not None:
            lines.append(
                f"{self.metric}: fp32 {100 * self.fp32_top1:.2f} %, int8 {100 * self.int8_top1:.2f} % "
                f"(drop {100 * (self.fp32_top1 - self.int8_top1):.2f} points)"
            )
        return "\n".join(lines)


def _calibration_reader_base() -> type:
    from onnxruntime.quantization import CalibrationDataReader

    return CalibrationDataReader


class ArrayCalibrationReader(_calibration_reader_base()):  # type: ignore[misc]
    """Feeds preprocessed images to ONNX Runtime's calibrator, ``batch_size`` at a time."""

    def __init__(self, input_name: str, images: np.ndarray, batch_size: int) -> None:
        self.input_name = input_name
        self.images = np.ascontiguousarray(images, dtype=np.float32)
        self.batch_size = batch_size
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next + self.batch_size > len(self.images):
            return None  # a partial batch would not fit a model with a fixed batch size
        batch = self.images[self._next : self._next + self.batch_size]
        self._next += self.batch_size
        return {self.input_name: batch}

    def rewind(self) -> None:
        self._next = 0

    def __len__(self) -> int:
        return len(self.images) // self.batch_size


# ---------------------------------------------------------------------------------------------
# calibration and evaluation images
# ---------------------------------------------------------------------------------------------


def seeded_pick(count: int, limit: int | None, seed: int) -> np.ndarray:
    """Indices of a seeded random subset of ``limit`` out of ``count`` (all, in order, when it fits)."""
    if limit is None or limit >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False))


def _digits_labels(classes: Sequence[str] | None, num_classes: int | None) -> bool:
    """Digits labels are output indices when the model's classes are "0".."9" (or unnamed, 10 outputs)."""
    digits = [str(d) for d in range(10)]
    return list(classes) == digits if classes is not None else num_classes == 10


def _digits_sets(
    prep: Preprocessing, props: Mapping[str, str], labelled: bool, limits: tuple[int | None, int | None], seed: int
) -> tuple[LabelledImages, LabelledImages]:
    """Calibrate on the digits training split, evaluate on the validation split the model never saw."""
    from lucid.data import digits_datasets

    split = {"seed": 0, "val_fraction": 0.2}
    if "train_data" in props:  # the split the model was trained with, recorded at export
        split.update(json.loads(props["train_data"]).get("split") or {})
    train_ds, val_ds = digits_datasets(
        image_size=max(prep.image_size), seed=int(split["seed"]), val_fraction=float(split["val_fraction"])
    )
    sets = []
    for name, ds, limit, offset in (("train", train_ds, limits[0], 0), ("validation", val_ds, limits[1], 1)):
        pick = seeded_pick(len(ds), limit, seed + offset)
        # ds.images are the [0, 1] grey images before normalisation: the model's own preprocessing applies.
        images = prep([ds.images[i] for i in pick])
        labels = ds.targets[pick].numpy() if labelled else None
        sets.append(LabelledImages(images, labels, f"digits {name} split (seed {split['seed']}), {len(pick)} images"))
    return sets[0], sets[1]


def _image_files(folder: Path) -> list[Path]:
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)


def _folder_labels(folder: Path, files: Sequence[Path], classes: Sequence[str] | None) -> np.ndarray | None:
    """Labels from an ImageFolder layout (``folder/<class>/<image>``) whose class names the model has."""
    if classes is None:
        return None
    index = {name: i for i, name in enumerate(classes)}
    labels = []
    for file in files:
        parts = file.relative_to(folder).parts
        if len(parts) < 2 or parts[0] not in index:
            return None
        labels.append(index[parts[0]])
    return np.asarray(labels)


def _folder_set(
    folder: Path, prep: Preprocessing, classes: Sequence[str] | None, limit: int | None, seed: int
) -> LabelledImages:
    files = _image_files(folder)
    if not files:
        raise ValueError(f"calibration folder {folder} holds no images (looked for .jpg, .png, ... recursively)")
    chosen = [files[i] for i in seeded_pick(len(files), limit, seed)]
    labels = _folder_labels(folder, chosen, classes)
    described = f"{folder}, {len(chosen)} images" + (" with class-folder labels" if labels is not None else "")
    return LabelledImages(prep(chosen), labels, described)


def _named_set(
    found: Any, prep: Preprocessing, classes: Sequence[str] | None, limit: int | None, seed: int, what: str
) -> LabelledImages:
    """A split's photos by class (`lucid.data.ClassFiles`: named, listed in a table or in class
    folders), labelled when the model names all their classes."""
    known = classes is not None and set(found.classes) <= set(classes)
    files, targets = found.samples(classes if known else found.classes)
    if known:
        return _files_set(files, targets, prep, limit, seed, what)
    chosen = [files[i] for i in seeded_pick(len(files), limit, seed)]
    return LabelledImages(prep(chosen), None, f"{what}, {len(chosen)} images")


def recorded_data(metadata: Mapping[str, str]) -> str | None:
    """The training data an export records (``train_data``): ``"digits"``, its folder, or None."""
    try:
        record = json.loads(metadata.get("train_data", "null")) or {}
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict):
        return None
    if record.get("kind") == "digits":
        return DIGITS
    root = record.get("root")
    return str(root) if isinstance(root, str) and root else None


def _recorded_split(folder: Path, metadata: Mapping[str, str]) -> Any:
    """The training/held-out files of ``folder`` when it is the one folder of class folders the
    model was trained on with a seeded split (so the held-out images are the ones it never saw)."""
    from lucid.data import find_layout, held_out_files

    record = json.loads(metadata.get("train_data", "null")) or {}
    split = record.get("split") or {} if isinstance(record, dict) else {}
    root = record.get("root") if isinstance(record, dict) else None
    if split.get("layout") != "single" or not root:
        return None
    try:  # the folder as training read it: a download's one folder, or a train/ standing alone
        layout = find_layout(folder)
    except DataError:
        return None
    if layout.kind != "single" or layout.named.resolve() != Path(root).expanduser().resolve():
        return None
    return held_out_files(layout, split)


def _files_set(
    files: Sequence[Path], targets: Sequence[int], prep: Preprocessing, limit: int | None, seed: int, what: str
) -> LabelledImages:
    chosen = seeded_pick(len(files), limit, seed)
    labels = np.asarray([targets[i] for i in chosen])
    return LabelledImages(prep([files[i] for i in chosen]), labels, f"{what}, {len(chosen)} images with labels")


def calibration_sets(
    calib: str | os.PathLike[str] | np.ndarray | torch.Tensor,
    prep: Preprocessing | None,
    *,
    classes: Sequence[str] | None = None,
    num_classes: int | None = None,
    metadata: Mapping[str, str] | None = None,
    num_calib: int | None = 256,
    num_eval: int | None = None,
    seed: int = 0,
) -> tuple[LabelledImages, LabelledImages]:
    """``(calibration, evaluation)`` images for ``calib``: ``"digits"``, a folder, or an array.

    A folder with training and validation splits (lucid's training layout: ``train/`` and
    ``val/``, ``valid/`` or ``test/``, `lucid.data.split_folders`) calibrates on the first and
    evaluates on the second; the one folder a model was trained on with a seeded split, on that
    split; any other folder is used for both. An ``(N, C, H, W)`` array is taken
    as already preprocessed. Labels come from class folders whose names the model records.
    """
    if isinstance(calib, (np.ndarray, torch.Tensor)):
        images = calib.detach().cpu().numpy() if isinstance(calib, torch.Tensor) else calib
        if images.ndim != 4:
            raise ValueError(f"a calibration array must be a preprocessed (N, C, H, W) batch, got shape {images.shape}")
        images = np.ascontiguousarray(images, dtype=np.float32)
        return (
            LabelledImages(images[seeded_pick(len(images), num_calib, seed)], None, "given array"),
            LabelledImages(images[seeded_pick(len(images), num_eval, seed + 1)], None, "given array"),
        )
    if not isinstance(calib, (str, os.PathLike)):
        raise TypeError(f"calib must be 'digits', a folder or an (N, C, H, W) array, got {type(calib).__name__}")
    if prep is None:
        raise ValueError("calibrating on images needs the model's preprocessing (export it with lucid.deploy.export)")
    if str(calib) == DIGITS:
        labelled = _digits_labels(classes, num_classes)
        return _digits_sets(prep, metadata or {}, labelled, (num_calib, num_eval), seed)
    folder = Path(calib).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"calib must be 'digits' or a folder of images; no folder at {folder}")
    held_out = _recorded_split(folder, metadata or {})
    if held_out is not None:
        return (
            _files_set(held_out.train_files, held_out.train_targets, prep, num_calib, seed, f"{folder} training split"),
            _files_set(held_out.val_files, held_out.val_targets, prep, num_eval, seed + 1, f"{folder} held-out split"),
        )
    from lucid.data import labelled_layout, photo_folder_layout, split_folders

    # Photos named by class, listed in a table, or in images/<class>/, split by folders or lists.
    named = labelled_layout(folder) or photo_folder_layout(folder)
    if named is not None and named.val is not None:
        return (
            _named_set(named.train, prep, classes, num_calib, seed, f"{folder} training split"),
            _named_set(named.val, prep, classes, num_eval, seed + 1, f"{folder} validation split"),
        )
    train_dir, val_dir, _ = split_folders(folder)
    if train_dir is not None and val_dir is not None:
        return (
            _folder_set(train_dir, prep, classes, num_calib, seed),
            _folder_set(val_dir, prep, classes, num_eval, seed + 1),
        )
    return _folder_set(folder, prep, classes, num_calib, seed), _folder_set(folder, prep, classes, num_eval, seed + 1)


# ---------------------------------------------------------------------------------------------
# quantize
# ---------------------------------------------------------------------------------------------


def _check_paths(
    onnx_path: str | os.PathLike[str], out: str | os.PathLike[str] | None, backend: str
) -> tuple[Path, Path]:
    if backend not in QUANTIZE_BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(QUANTIZE_BACKENDS)}, got {backend!r}")
    source = Path(onnx_path).expanduser()
    target = default_int8_path(source, backend) if out is None else Path(out).expanduser()
    readable = (".onnx",) if backend == "onnxruntime" else (".onnx", ".xml")
    if source.suffix.lower() not in readable:
        raise ValueError(f"quantize with {backend} reads a {' or '.join(readable)} model, got {str(onnx_path)!r}")
    if not source.is_file():
        raise FileNotFoundError(f"no model file at {source}")
    suffix = OUT_SUFFIX[backend]
    if target.suffix.lower() != suffix:
        raise ValueError(f"the {backend} int8 model is written to a {suffix} file, got {str(out)!r}")
    if target.resolve() == source.resolve():
        raise ValueError(
            f"out must differ from the fp32 model ({source}); e.g. {source.with_suffix('.int8' + suffix).name}"
        )
    check_model_output(target, inputs=[source])
    return source, target


def _backend_options(
    backend: str,
    per_channel: bool | None,
    reduce_range: bool | None,
    calibrate_method: str | None,
    preprocess: bool | None,
) -> tuple[bool, bool, str, bool]:
    """ONNX Runtime's quantizer options with their defaults; OpenVINO (NNCF) takes none of them."""
    if backend == "openvino":
        given = [
            name
            for name, value in (
                ("per_channel", per_channel),
                ("reduce_range", reduce_range),
                ("calibrate_method", calibrate_method),
                ("preprocess", preprocess),
            )
            if value is not None
        ]
        if given:
            raise ValueError(
                f"{', '.join(given)} configure ONNX Runtime's quantizer; backend='openvino' (NNCF) "
                "always quantizes weights per channel with its own range estimation"
            )
        return True, False, "nncf", False
    return (
        True if per_channel is None else per_channel,
        True if reduce_range is None else reduce_range,
        calibrate_method or "minmax",
        True if preprocess is None else preprocess,
    )


def _bytes(path: Path) -> int:
    return sum(part.stat().st_size for part in model_files(path) if part.is_file())


def _check_count(name: str, value: int | None, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}")


def _calibrate_method(name: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    if name not in CALIBRATION_METHODS:
        raise ValueError(f"calibrate_method must be one of {', '.join(CALIBRATION_METHODS)}, got {name!r}")
    return {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[name]


def _classifier_nodes(model_file: Path) -> list[str]:
    """The node(s) computing the graph's output: the final Gemm (or MatMul + Add)."""
    import onnx

    graph = onnx.load(str(model_file), load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}
    node = producer.get(graph.output[0].name)
    found: list[str] = []
    while node is not None and node.op_type in ("Gemm", "MatMul", "Add"):
        found.append(node.name)
        if node.op_type != "Add":
            break
        node = next((producer[i] for i in node.input if i in producer), None)
    return found if found and node is not None and node.op_type in ("Gemm", "MatMul") else []


def _quantize_file(
    source: Path,
    dest: Path,
    reader: ArrayCalibrationReader,
    *,
    per_channel: bool,
    reduce_range: bool,
    method: Any,
    preprocess: bool,
    quantize_classifier: bool,
    workdir: Path,
) -> None:
    """ONNX Runtime's pre-processing (shape inference, graph optimisation), then static QDQ quantization."""
    import contextlib
    import io

    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model_in = source
    if preprocess:
        model_in = workdir / "preprocessed.onnx"
        quant_pre_process(str(source), str(model_in))
    # The classifier stays fp32 by default: on the digits model its int8 rounding alone flipped
    # 2-3 % of the top-1 answers, while it costs under 1 % of the network's multiply-adds.
    exclude = [] if quantize_classifier else _classifier_nodes(model_in)
    # ORT's histogram calibrators print their progress; the caller reports the outcome instead.
    with contextlib.redirect_stdout(io.StringIO()):
        quantize_static(
            str(model_in),
            str(dest),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=method,
            nodes_to_exclude=exclude,
            extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
        )
    if exclude:
        _int8_weights_only(dest, exclude)


def _int8_weights_only(model_file: Path, nodes: Sequence[str]) -> None:
    """Store the fp32 weight matrices of ``nodes`` (Gemm/MatMul) as per-output-channel symmetric
    int8 + DequantizeLinear: the computation stays fp32, only the stored weights shrink 4x.

    The classifier of a 1000-class model is 40 % of mobilenet_v3_small's weights, so keeping it
    fp32 left the int8 file at 0.58x the fp32 one. ONNX Runtime's quantizer has no weight-only int8
    mode for Gemm (``nodes_to_exclude`` keeps them fully fp32; its weight-only path, MatMulNBits,
    is a 4-bit contrib operator for MatMul), hence these few lines. Symmetric 8-bit rows (255
    levels, not the 7-bit ``reduce_range`` ones of the quantized layers); the top-1 effect on trained
    models is measured in benchmarks/bench.py (docs/deploy.md).
    """
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(model_file))
    graph = proto.graph
    weights = {init.name: init for init in graph.initializer}
    index = 0
    for node in list(graph.node):
        if node.name not in nodes or node.op_type not in ("Gemm", "MatMul"):
            continue
        name = node.input[1]
        if name not in weights or weights[name].data_type != onnx.TensorProto.FLOAT or len(weights[name].dims) != 2:
            continue
        matrix = numpy_helper.to_array(weights[name])
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0) if node.op_type == "Gemm" else 0
        axis = 0 if trans_b else 1  # the output-channel axis of the stored matrix
        peak = np.abs(matrix).max(axis=1 - axis)
        scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
        shape = (-1, 1) if axis == 0 else (1, -1)
        quantized = np.clip(np.rint(matrix / scale.reshape(shape)), -127, 127).astype(np.int8)
        graph.initializer.remove(weights[name])
        graph.initializer.extend(
            [
                numpy_helper.from_array(quantized, f"{name}_int8"),
                numpy_helper.from_array(scale, f"{name}_int8_scale"),
                numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), f"{name}_int8_zero_point"),
            ]
        )
        dequantize = onnx.helper.make_node(
            "DequantizeLinear",
            [f"{name}_int8", f"{name}_int8_scale", f"{name}_int8_zero_point"],
            [f"{name}_dequantized"],
            name=f"{node.name}_weight_dequantize",
            axis=axis,
        )
        node.input[1] = f"{name}_dequantized"
        graph.node.insert(list(graph.node).index(node), dequantize)
        index += 1
    if index:
        onnx.save(proto, str(model_file))


def _with_props(model_file: Path, props: Mapping[str, str], note: dict[str, Any]) -> bytes:
    """The fp32 model's metadata (preprocessing, classes) plus a record of the quantization."""
    import onnx

    proto = onnx.load(str(model_file))
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {**props, "quantization": json.dumps(note)})
    return proto.SerializeToString()


def _top1(logits: np.ndarray) -> np.ndarray:
    return logits.argmax(axis=1)


def quantize(
    onnx_path: str | os.PathLike[str] | Any,
    out: str | os.PathLike[str] | None = None,
    calib: str | os.PathLike[str] | np.ndarray | torch.Tensor | None = None,
    *,
    backend: str = "onnxruntime",
    num_calib: int | None = 256,
    num_eval: int | None = None,
    per_channel: bool | None = None,
    reduce_range: bool | None = None,
    quantize_classifier: bool = False,
    calibrate_method: str | None = None,
    preprocess: bool | None = None,
    batch_size: int = 16,
    max_top1_drop: float | None = None,
    threads: int | None = None,
    seed: int = 0,
) -> QuantizeResult:
    """Quantize an exported fp32 model to int8 at ``out``, checked against the fp32 model.

    ``backend="onnxruntime"``: a ``.onnx`` in, a static QDQ ``.onnx`` out (per-channel weights
    unless ``per_channel=False``; ``reduce_range`` (default) quantizes weights to 7 bits, which
    keeps CPUs without VNNI (AVX2's u8 x s8 pairs saturate int16) as accurate as those with it;
    ``calibrate_method`` minmax/entropy/percentile). ``backend="openvino"``: a ``.onnx`` or
    ``.xml`` in, an OpenVINO IR ``.xml`` (+ ``.bin``) out, quantized by NNCF (extra ``[deploy]``).
    ``backend="executorch"``: a lucid checkpoint, registered name or module in (ExecuTorch quantizes
    the PyTorch graph), a ``.pte`` out; see `quantize_executorch`.
    ``calib``: ``"digits"`` (calibrate on the digits training split, evaluate on the validation
    split), a folder of images (ImageFolder labels are used when the model knows the class
    names), or a preprocessed ``(N, C, H, W)`` array. ``num_calib`` images calibrate (None: all),
    ``num_eval`` evaluate (None: all). The classifier stays fp32 unless ``quantize_classifier``.
    With ``max_top1_drop`` (points), a larger drop raises ExportError and nothing is written.
    A fp32 file with a ``.sha256`` digest is checked first; the int8 file gets its own.
    ``out`` None: beside the source, `default_int8_path` (``digits.onnx`` to ``digits.int8.onnx``).
    """
    if backend == "executorch":
        _backend_options("openvino", per_channel, reduce_range, calibrate_method, preprocess)
        return quantize_executorch(
            onnx_path, out, calib, num_calib=num_calib, num_eval=num_eval, max_top1_drop=max_top1_drop, seed=seed
        )
    start = time.perf_counter()
    source, target = _check_paths(onnx_path, out, backend)
    per_channel, reduce_range, calibrate_method, preprocess = _backend_options(
        backend, per_channel, reduce_range, calibrate_method, preprocess
    )
    _check_count("num_calib", num_calib)
    _check_count("num_eval", num_eval)
    _check_count("batch_size", batch_size, allow_none=False)
    method = _calibrate_method(calibrate_method) if backend == "onnxruntime" else None
    check_digest(source)
    fp32 = OnnxRuntimeModel(source, threads) if backend == "onnxruntime" else OpenVINOModel(source, threads)
    props = dict(fp32.metadata)
    props.pop("quantization", None)
    prep = Preprocessing.from_metadata(props, str(source)) if "image_size" in props else None
    fixed = fp32.input_shape[0]
    task = task_for(props, str(source))  # after the digest check
    calib_set, eval_set = task_sets(task, calib, prep, props, fp32.num_classes, num_calib, num_eval, seed)
    step = fixed or min(batch_size, len(calib_set))
    if len(calib_set) < step:
        raise ValueError(f"{len(calib_set)} calibration images are fewer than the model's batch size {step}")
    classifier = "int8" if quantize_classifier else "fp32 compute, int8 per-channel stored weights"
    note = _quantization_note(backend, calib_set, source, classifier, per_channel, calibrate_method, reduce_range)
    outcome: dict[str, Any] = {}

    def check(int8: Any) -> None:
        outcome.update(_compare(task, props, fp32.run_all, int8.run_all, eval_set, fixed))
        _refuse_drop(outcome, max_top1_drop, target)

    fp32_bytes = _bytes(source)
    if backend == "onnxruntime":
        assert isinstance(fp32, OnnxRuntimeModel)
        reader = ArrayCalibrationReader(fp32.session.get_inputs()[0].name, calib_set.images, step)
        options = {
            "per_channel": per_channel,
            "reduce_range": reduce_range,
            "method": method,
            "preprocess": preprocess,
            "quantize_classifier": quantize_classifier,
        }
        write_with_digest(target, lambda tmp: _write_qdq(source, tmp, reader, options, (props, note), check, threads))
    else:
        from lucid.deploy.openvino import ir_bytes, nncf_quantize, read_openvino_model, save_ir, set_metadata

        if source.suffix.lower() != IR_SUFFIX:  # like with like: the int8 IR against the fp32 IR
            fp32_bytes = ir_bytes(read_openvino_model(source))

        model = nncf_quantize(
            read_openvino_model(source), calib_set.images, step, quantize_classifier=quantize_classifier
        )
        set_metadata(model, {**props, "quantization": json.dumps(note)})
        save_ir(model, target, lambda xml: check(OpenVINOModel(xml, threads)))
    return _result(target, backend, calib_set, eval_set, outcome, fp32_bytes, start)


def _quantization_note(
    backend: str,
    calib_set: LabelledImages,
    source: Path,
    classifier: str,
    per_channel: bool,
    calibrate_method: str | None,
    reduce_range: bool,
) -> dict[str, Any]:
    """How the int8 file was made, as its ``quantization`` metadata records it."""
    if backend == "onnxruntime":
        return {
            "format": "QDQ",
            "weights": "int8 " + ("per-channel" if per_channel else "per-tensor"),
            "activations": "uint8",
            "calibration": calib_set.description,
            "method": calibrate_method,
            "reduce_range": reduce_range,
            "classifier": classifier,
            "source": source.name,
        }
    return {
        "format": "OpenVINO IR (NNCF post-training quantization, PERFORMANCE preset)",
        "weights": "int8 symmetric per-channel",
        "activations": "int8 symmetric",
        "calibration": calib_set.description,
        "classifier": classifier,
        "source": source.name,
    }


def _write_qdq(
    source: Path,
    tmp: str,
    reader: ArrayCalibrationReader,
    options: dict[str, Any],
    metadata: tuple[Mapping[str, str], dict[str, Any]],
    check: Any,
    threads: int | None,
) -> None:
    """ONNX Runtime's static QDQ quantization of ``source`` into ``tmp``, calibrated by ``reader``,
    with ``metadata`` (the fp32 file's, and the quantization's note) recorded, then ``check`` run
    on the written file."""
    with tempfile.TemporaryDirectory(prefix="lucid-quantize-") as workdir:
        quantized = Path(workdir) / "int8.onnx"
        _quantize_file(source, quantized, reader, workdir=Path(workdir), **options)
        Path(tmp).write_bytes(_with_props(quantized, *metadata))
    check(OnnxRuntimeModel(tmp, threads))


def _result(
    target: Path,
    backend: str,
    calib_set: LabelledImages,
    eval_set: LabelledImages,
    outcome: Mapping[str, Any],
    fp32_bytes: int,
    start: float,
) -> QuantizeResult:
    """The one `QuantizeResult` of every backend: what was written, on which images, how it compares."""
    return QuantizeResult(
        path=target,
        calibration=calib_set.description,
        evaluation=eval_set.description,
        num_calib=len(calib_set),
        num_eval=len(eval_set),
        agreement=outcome["agreement"],
        fp32_top1=outcome["fp32_top1"],
        int8_top1=outcome["int8_top1"],
        fp32_bytes=fp32_bytes,
        int8_bytes=_bytes(target),
        seconds=time.perf_counter() - start,
        backend=backend,
        metric=outcome.get("metric", "top-1"),
    )


def task_sets(
    task: Any,
    calib: str | os.PathLike[str] | np.ndarray | torch.Tensor | None,
    prep: Preprocessing | None,
    props: Mapping[str, str],
    num_classes: int | None,
    num_calib: int | None,
    num_eval: int | None,
    seed: int,
) -> tuple[LabelledImages, LabelledImages]:
    """Calibration and evaluation images for a model of ``task``: an array as given, else the
    task's own reading of ``calib`` (None: the training data the file records, else the digits)."""
    if isinstance(calib, (np.ndarray, torch.Tensor)):
        return calibration_sets(calib, prep, num_calib=num_calib, num_eval=num_eval, seed=seed)
    if calib is None:
        calib = recorded_data(props) or DIGITS
    if prep is None:
        raise ValueError("calibrating on images needs the model's preprocessing (export it with lucid.deploy.export)")
    return task.calibration_sets(calib, prep, props, CalibrationPicks(num_calib, num_eval, seed))


def _refuse_drop(outcome: Mapping[str, Any], max_drop: float | None, target: Path) -> None:
    """ExportError (nothing written) when the int8 score fell by more than ``max_drop`` points."""
    drop = outcome["drop"]
    if max_drop is not None and drop is not None and drop > max_drop:
        metric = outcome["metric"]
        raise ExportError(
            f"int8 {metric} {100 * outcome['int8_top1']:.2f} % is {drop:.2f} points below fp32's "
            f"{100 * outcome['fp32_top1']:.2f} % (allowed: {max_drop}); {target} not written"
        )


def _compare(
    task: Any, props: Mapping[str, str], fp32: Any, int8: Any, eval_set: LabelledImages, fixed: int | None
) -> dict[str, Any]:
    """Agreement of two models (``run(batch) -> outputs`` callables) and their scores where labels
    exist, as the task measures them (`lucid.tasks.Task.compare`)."""
    usable = len(eval_set) - (len(eval_set) % fixed if fixed else 0)
    if usable == 0:
        raise ValueError(f"{len(eval_set)} evaluation images are fewer than the model's batch size {fixed}")
    images = eval_set.images[:usable]
    labels = eval_set.labels[:usable] if eval_set.labels is not None else None
    found = task.compare(_outputs(fp32(images)), _outputs(int8(images)), labels, props)
    return {
        "agreement": found.agreement,
        "fp32_top1": found.reference,
        "int8_top1": found.candidate,
        "drop": found.drop,
        "metric": found.metric,
    }


def _outputs(produced: Any) -> list[np.ndarray]:
    """A model's outputs as a list of arrays (a runner of one output may return the array itself)."""
    return [np.asarray(o) for o in produced] if isinstance(produced, (list, tuple)) else [np.asarray(produced)]


def quantize_executorch(
    source: Any,
    out: str | os.PathLike[str] | None = None,
    calib: str | os.PathLike[str] | np.ndarray | torch.Tensor | None = None,
    *,
    num_calib: int | None = 256,
    num_eval: int | None = None,
    max_top1_drop: float | None = None,
    seed: int = 0,
) -> QuantizeResult:
    """An int8 ExecuTorch program (``.pte``, XNNPACK quantizer, batch 1) of ``source`` (a lucid
    checkpoint, registered model name or module), checked against the eager fp32 model.

    Calibrates on ``calib`` (as `quantize`), then compares the program's top-1 with the
    eager model's on the evaluation images; with ``max_top1_drop`` (points) a larger drop raises
    ExportError and nothing is written. ``fp32_bytes`` is the fp32 weights' size (4 bytes a value).
    """
    from lucid.deploy.executorch import PTE_SUFFIX, to_quantized_executorch_bytes
    from lucid.deploy.export import inference_copy, metadata_of
    from lucid.deploy.runtime import ExecuTorchModel, require
    from lucid.models.resolve import resolve

    start = time.perf_counter()
    target = default_int8_path(source, "executorch") if out is None else Path(out).expanduser()
    if target.suffix.lower() != PTE_SUFFIX:
        raise ValueError(f"the executorch int8 model is written to a .pte file, got {str(out)!r}")
    check_model_output(target, inputs=[source])
    require("executorch", "lucid quantize --backend executorch")
    resolved = resolve(source)
    reference = resolved.model.to("cpu", torch.float32).eval()
    names = resolved.classes
    task = get_task(resolved.task)
    spec = task.export_spec(reference)
    prep = spec.preprocessing
    meta = {**metadata_of(reference, source, prep, names), "task": task.name, **spec.metadata}
    calib_set, eval_set = task_sets(task, calib, prep, meta, None, num_calib, num_eval, seed)
    folded = inference_copy(reference)
    example = torch.zeros(1, prep.in_channels, *prep.image_size)
    note = {
        "format": "ExecuTorch .pte, XNNPACK delegate",
        "weights": "int8 symmetric per-channel (XNNPACKQuantizer)",
        "activations": "int8",
        "calibration": calib_set.description,
    }

    def eager(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return folded(torch.from_numpy(batch)).numpy()

    outcome: dict[str, Any] = {}

    def write(tmp: str) -> None:
        Path(tmp).write_bytes(
            to_quantized_executorch_bytes(folded, example, calib_set.images, {**meta, "quantization": json.dumps(note)})
        )
        outcome.update(_compare(task, meta, eager, ExecuTorchModel(tmp).run, eval_set, None))
        _refuse_drop(outcome, max_top1_drop, target)

    write_with_digest(target, write)
    return _result(
        target, "executorch", calib_set, eval_set, outcome, 4 * sum(p.numel() for p in folded.parameters()), start
    )
