"""Deploy segmentation models: verified ONNX (and OpenVINO IR) export with a free image size, and a
:class:`SegmentationPredictor` that returns class masks.

``lucid.deploy.export`` writes models of one fixed image size; a segmentation model should take
any size, so this exporter marks batch, height and width dynamic and verifies the file against
the eager model at two different sizes. It reuses ``lucid.deploy``'s public pieces:
:func:`~lucid.deploy.fold_batchnorm`, :func:`~lucid.deploy.make_session` (ONNX Runtime) and
:class:`~lucid.deploy.Preprocessing` (the metadata format a lucid Predictor reads).
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lucid.checkpoint import atomic_write
from lucid.errors import ExportError, MissingDependencyError
from lucid.segment.infer import load_segmentation_source, segmentation_meta

__all__ = ["SegmentExportResult", "export_segmentation", "SegmentationPredictor", "INPUT_NAME", "OUTPUT_NAME"]

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
DEFAULT_OPSET = 18
DEFAULT_RTOL = 1e-3
FORMATS = ("onnx", "openvino")


@dataclass
class SegmentExportResult:
    """The written file and how closely it matches the eager model."""

    path: Path
    format: str
    max_abs_diff: float
    max_rel_diff: float
    mask_agreement: float
    checked_sizes: tuple[tuple[int, int], ...]
    seconds: float
    metadata: dict[str, str]

    def summary(self) -> str:
        sizes = ", ".join(f"{h}x{w}" for h, w in self.checked_sizes)
        return (
            f"{self.path} ({self.format}, dynamic batch/height/width): max |diff| {self.max_abs_diff:.3g} "
            f"({self.max_rel_diff:.3g} of the largest logit), {100 * self.mask_agreement:.3f} % of mask pixels "
            f"agree with eager at {sizes}; {self.seconds:.1f} s"
        )


def _in_channels(model: nn.Module) -> int:
    """The model's ``in_channels`` attribute (lucid's LR-ASPP models have one)."""
    value = getattr(model, "in_channels", None)
    if not isinstance(value, int):
        raise ExportError(f"expected a segmentation model with an int in_channels attribute, got {value!r}")
    return value


def _metadata(model: nn.Module, image_size: tuple[int, int]) -> dict[str, str]:
    from lucid import __version__
    from lucid.deploy import Preprocessing

    meta = segmentation_meta(model)
    prep = Preprocessing(
        image_size=image_size,
        in_channels=_in_channels(model),
        mean=meta["mean"],
        std=meta["std"],
        resize_size=meta["resize_size"],
    )
    values = {
        "producer": f"lucid {__version__}",
        "task": "segment",
        **prep.to_metadata(),
        "classes": json.dumps(meta["classes"]),
        "ignore_index": json.dumps(meta["ignore_index"]),
        "model_name": str(getattr(model, "model_name", "lraspp")),
    }
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_dict"):
        values["config"] = json.dumps(config.to_dict())
    return values


def _onnx_bytes(model: nn.Module, example: torch.Tensor, opset: int) -> bytes:
    import io
    import warnings

    axes = {0: "batch", 2: "height", 3: "width"}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporters' deprecation and tracer notes are about torch
        torch.onnx.export(
            model,
            (example,),
            buffer,  # type: ignore[arg-type]  # torch's hint omits the file objects the TorchScript exporter takes
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
            do_constant_folding=True,
        )
    return buffer.getvalue()


def _verify(
    run: Any, reference: nn.Module, channels: int, sizes: Sequence[tuple[int, int]], rtol: float, seed: int
) -> tuple[float, float, float]:
    """Largest |exported - eager| (absolute, relative to the largest logit) and mask agreement."""
    generator = torch.Generator().manual_seed(seed)
    worst_abs, worst_rel, agree, total = 0.0, 0.0, 0, 0
    for batch, (height, width) in zip((1, 2), sizes, strict=True):
        x = torch.randn(batch, channels, height, width, generator=generator)
        with torch.no_grad():
            expected = reference(x).numpy()
        got = np.asarray(run(x))
        if got.shape != expected.shape:
            raise ExportError(
                f"the exported model returns shape {got.shape} for input {tuple(x.shape)}, eager {expected.shape}"
            )
        if not np.isfinite(got).all():
            raise ExportError("the exported model returns non-finite values on random input; nothing was written")
        diff = float(np.abs(got - expected).max())
        worst_abs = max(worst_abs, diff)
        worst_rel = max(worst_rel, diff / max(float(np.abs(expected).max()), 1e-12))
        agree += int((got.argmax(1) == expected.argmax(1)).sum())
        total += got.shape[0] * got.shape[2] * got.shape[3]
    if worst_rel > rtol:
        raise ExportError(
            f"the exported model disagrees with the eager model: max |diff| {worst_abs:.3g} = "
            f"{worst_rel:.3g} of the largest logit > rtol {rtol:g}; nothing was written"
        )
    return worst_abs, worst_rel, agree / max(total, 1)


def _openvino() -> Any:
    try:
        import openvino
    except ImportError:
        raise MissingDependencyError("OpenVINO export needs the openvino package: pip install openvino") from None
    return openvino


def export_segmentation(
    model: nn.Module | str | os.PathLike[str],
    out: str | os.PathLike[str],
    format: str = "onnx",  # noqa: A002 - the CLI's --format
    *,
    weights: Any = None,
    image_size: tuple[int, int] = (360, 480),
    opset: int = DEFAULT_OPSET,
    rtol: float = DEFAULT_RTOL,
    seed: int = 0,
) -> SegmentExportResult:
    """Export a segmentation model (module, lucid LR-ASPP checkpoint or registered name) to ONNX or OpenVINO IR.

    Batch, height and width are dynamic; ``image_size`` (height, width) is the size traced and
    recorded as the nominal input size. BatchNorm is folded into the convolutions. The file is
    checked against the eager model at ``image_size`` (batch 1) and at another size (batch 2);
    a relative difference above ``rtol`` raises :class:`~lucid.errors.ExportError` and nothing is
    written (an older ``out`` stays). ``format="openvino"`` converts the verified ONNX graph to
    an ``.xml``/``.bin`` pair with ``openvino.convert_model`` and verifies that too.
    """
    from lucid.deploy import fold_batchnorm, make_session
    from lucid.deploy.export import with_metadata

    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    start = time.perf_counter()
    target = Path(out).expanduser()
    suffix = ".onnx" if format == "onnx" else ".xml"
    if target.suffix != suffix:
        raise ValueError(f"--out {target}: a {format} file must end in {suffix}")
    reference = copy.deepcopy(load_segmentation_source(model, weights)).to("cpu", torch.float32).eval()
    reference = reference.to(memory_format=torch.contiguous_format)
    folded = copy.deepcopy(reference)
    fold_batchnorm(folded)
    height, width = int(image_size[0]), int(image_size[1])
    sizes = ((height, width), (height + 24, max(16, width - 40)))
    channels = _in_channels(reference)
    metadata = _metadata(reference, (height, width))
    raw = with_metadata(_onnx_bytes(folded, torch.zeros(1, channels, height, width), opset), metadata)
    diffs: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def write_onnx(tmp: str) -> None:
        nonlocal diffs
        Path(tmp).write_bytes(raw)
        session = make_session(tmp)
        diffs = _verify(
            lambda x: session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0], reference, channels, sizes, rtol, seed
        )

    if format == "onnx":
        atomic_write(target, write_onnx)
    else:
        ov = _openvino()
        converted = _convert_to_openvino(ov, raw, target)
        for key, value in metadata.items():
            converted.set_rt_info(value, ["lucid", key])
        compiled = ov.Core().compile_model(converted, "CPU", _ov_config(None, "f32"))
        diffs = _verify(lambda x: compiled(x.numpy())[0], reference, channels, sizes, rtol, seed)
        _save_ir(ov, converted, target)
    return SegmentExportResult(
        target, format, diffs[0], diffs[1], diffs[2], sizes, time.perf_counter() - start, metadata
    )


def _save_ir(ov: Any, converted: Any, target: Path) -> None:
    """Write the ``.xml``/``.bin`` pair beside ``target`` through a temporary folder, then rename both."""
    import shutil
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".ov-", dir=target.parent))
    try:
        ov.save_model(converted, str(folder / "model.xml"), compress_to_fp16=False)
        os.replace(folder / "model.bin", target.with_suffix(".bin"))  # weights first: the .xml names them
        os.replace(folder / "model.xml", target)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _ov_config(threads: int | None, precision: str) -> dict[str, Any]:
    """OpenVINO CPU settings: latency hint and float32 unless asked (its default on bf16 CPUs is bf16)."""
    if precision not in ("f32", "bf16", "f16"):
        raise ValueError(f"precision must be f32, bf16 or f16, got {precision!r}")
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
    if threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    return config


def _convert_to_openvino(ov: Any, raw: bytes, target: Path) -> Any:
    """``openvino.convert_model`` of the ONNX bytes (it reads models from files)."""
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ov-onnx-", dir=target.parent) as folder:
        onnx_file = Path(folder) / "model.onnx"
        onnx_file.write_bytes(raw)
        return ov.convert_model(str(onnx_file))


# --------------------------------------------------------------------------------------------
# predictor
# --------------------------------------------------------------------------------------------


def _as_rgb(image: Any) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 array from a path, PIL image, ``(H, W, 3)`` array or ``(3, H, W)`` uint8 tensor."""
    from lucid.segment.data import read_rgb

    if isinstance(image, (str, os.PathLike)):
        return read_rgb(image).permute(1, 2, 0).numpy()
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"an image tensor must be (3, H, W), got {tuple(image.shape)}")
        return image.permute(1, 2, 0).numpy()
    if hasattr(image, "convert"):  # PIL
        return np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"an image array must be (H, W, 3), got {array.shape}")
    return array


class SegmentationPredictor:
    """Class masks from an exported segmentation model (``.onnx`` with ONNX Runtime, ``.xml`` with OpenVINO).

    >>> predictor = SegmentationPredictor("lraspp.onnx", threads=2)
    >>> mask = predictor.predict("street.jpg")   # (H, W) uint8 class indices at the image's size

    The preprocessing (normalisation, optional resize), class names and ignore value come from the
    file's metadata, written by :func:`export_segmentation`. ``precision`` (OpenVINO): ``"f32"``
    like the file; ``"bf16"`` opts in to OpenVINO's bfloat16 where the CPU has it (faster, logits
    move by about 1 %).
    """

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None, precision: str = "f32") -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise FileNotFoundError(f"no model file at {self.path}")
        if self.path.suffix == ".xml":
            ov = _openvino()
            core = ov.Core()
            model = core.read_model(str(self.path))
            meta = {}
            for section in ("framework", "lucid"):  # an .onnx read by OpenVINO, or our IR's rt_info
                if model.has_rt_info([section]):
                    values = model.get_rt_info([section]).value
                    meta.update({str(k): str(v) for k, v in dict(values).items()})
            compiled = core.compile_model(model, "CPU", _ov_config(threads, precision))
            self._run: Any = lambda x: compiled(x)[0]
            self.runtime = "openvino"
        else:
            if precision != "f32":
                raise ValueError(
                    f"precision {precision!r} is an OpenVINO setting; {self.path.name} runs on ONNX Runtime, "
                    "which computes in f32 (export --format openvino, or precision f32)"
                )
            import onnx

            from lucid.deploy import make_session

            proto = onnx.load(str(self.path), load_external_data=False)
            meta = {p.key: p.value for p in proto.metadata_props}
            session = make_session(self.path, threads)
            self._run = lambda x: session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
            self.runtime = "onnxruntime"
        self._read_metadata(meta)

    @classmethod
    def from_runtime(
        cls, run: Any, metadata: dict[str, str], path: str | os.PathLike[str], runtime: str
    ) -> SegmentationPredictor:
        """A predictor over an already loaded model: ``run`` maps a float32 ``(1, C, H, W)`` batch to
        its logits; ``metadata`` is the file's (as :func:`export_segmentation` wrote it).

        :class:`lucid.deploy.Predictor` uses it to return masks from the runtime it loaded.
        """
        self = cls.__new__(cls)
        self.path, self._run, self.runtime = Path(path), run, runtime
        self._read_metadata(metadata)
        return self

    def _read_metadata(self, meta: dict[str, str]) -> None:
        """Classes, ignore value and preprocessing from the export's metadata."""
        if meta.get("task") != "segment":
            raise ValueError(
                f"{self.path}: not a lucid segmentation export (no task=segment metadata); "
                "export it with lucid.segment.export_segmentation"
            )
        self.classes: list[str] = json.loads(meta["classes"])
        self.ignore_index = int(json.loads(meta.get("ignore_index", "255")))
        self.mean = np.asarray(json.loads(meta["mean"]), dtype=np.float32)
        self.std = np.asarray(json.loads(meta["std"]), dtype=np.float32)
        resize = json.loads(meta.get("resize_size", "null"))
        self.resize_size = int(resize) if resize else None

    def __repr__(self) -> str:
        return f"SegmentationPredictor({str(self.path)!r}, runtime={self.runtime}, classes={len(self.classes)})"

    def logits(self, image: Any) -> np.ndarray:
        """``(num_classes, H, W)`` float32 logits of one image at the image's own size."""
        rgb = _as_rgb(image)
        height, width = rgb.shape[:2]
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)
        if self.resize_size:
            from torchvision.transforms import v2

            x = v2.functional.resize(x, [self.resize_size], antialias=True)
        batch = ((x.float().numpy() / 255.0 - self.mean[:, None, None]) / self.std[:, None, None])[None].astype(
            np.float32
        )
        out = np.asarray(self._run(batch))[0]
        if out.shape[-2:] != (height, width):
            resized = torch.nn.functional.interpolate(
                torch.from_numpy(out)[None], size=(height, width), mode="bilinear", align_corners=False
            )
            out = resized[0].numpy()
        return out

    def predict(self, images: Any) -> np.ndarray | list[np.ndarray]:
        """The ``(H, W)`` uint8 class mask of one image, or a list of masks for a list of images."""
        if isinstance(images, (list, tuple)):
            return [self.logits(image).argmax(0).astype(np.uint8) for image in images]
        return self.logits(images).argmax(0).astype(np.uint8)

    def label(self, index: int) -> str:
        return self.classes[index]
