"""The segmentation side of ``lucid train`` / ``lucid eval`` / ``lucid predict`` (thin, over lucid.segment).

``lucid.cli.train`` adds `add_train_arguments` to ``lucid train`` and hands
``--task segment`` runs, segmentation checkpoints and segmentation exports to the ``run_*``
functions here, so the classification commands keep one home and segmentation another.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lucid.cli.table import print_eval
from lucid.errors import DataError

__all__ = [
    "TRAIN_GROUP",
    "TRAIN_HELP",
    "UNUSED_EVAL_FLAGS",
    "UNUSED_PREDICT_FLAGS",
    "add_train_arguments",
    "run_eval",
    "run_predict",
]

UNUSED_EVAL_FLAGS: tuple[str, ...] = ()  # lucid eval's flags a segmenter has no use for: none
UNUSED_PREDICT_FLAGS = ("topk", "score_threshold")  # lucid predict's flags a segmenter has no use for


def _crop_size(text: str) -> tuple[int, int]:
    """``HxW`` (e.g. ``360x480``) or one number for a square crop."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 360x480, got {text!r}") from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 360x480, got {text!r}")
    return values[0], values[1]


TRAIN_GROUP = "segmentation (--task segment)"
TRAIN_HELP = (
    "DIR/train and DIR/val each hold images/ and masks/ (8-bit PNGs, value = class, same file stems). "
    "Every flag above applies too, but those only classification has (--img-size, --label-smoothing, ...)."
)


def add_train_arguments(group: argparse._ArgumentGroup) -> None:
    """The flags of ``lucid train`` that only segmentation has (``--classes`` it shares with
    detection), into its ``--help`` group: the training crop first, then the classes."""
    group.add_argument(
        "--crop-size",
        type=_crop_size,
        metavar="HxW",
        help="segment: training crop, height x width (default 256x320, each side cut down to smaller photos' median)",
    )
    group.add_argument(
        "--ignore-index",
        type=int,
        metavar="V",
        help="segment: mask value of void pixels, left out of loss and metrics (default: the one mask value "
        "outside the named classes, else 255; CamVid: 11)",
    )
    group.add_argument(
        "--num-classes",
        type=int,
        metavar="N",
        help="segment: class count, values 0..N-1 (default: from classes.txt/json at DIR, else every mask value "
        "but the void one)",
    )
    group.add_argument(
        "--classes",
        metavar="A,B,...",
        type=lambda t: [c.strip() for c in t.split(",") if c.strip()],
        help="segment: class names in mask-value order, line i = value i (default: DIR/classes.txt or "
        "classes.json); the one value left unnamed is void",
    )
    group.add_argument(
        "--class-weights",
        choices=("enet", "none"),
        help="segment: loss weights per class: enet = 1/ln(1.02 + pixel share) from the training masks (default), "
        "or none",
    )
    group.add_argument(
        "--scale",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="segment: random rescale range of the training images (default 0.5 2.0)",
    )


def _dumps(value: Any) -> str:
    """Strict JSON (NaN -> null), as the classification commands print it."""
    from lucid.train.metrics import json_safe

    return json.dumps(json_safe(value), indent=2)


def run_eval(args: argparse.Namespace) -> int:
    """``lucid eval`` of a segmentation checkpoint: mIoU, per-class IoU, pixel accuracy, confusion matrix."""
    from lucid.outputs import check_output
    from lucid.segment import evaluate_segmentation

    default_png = None
    path = Path(args.checkpoint)
    if path.is_file():
        default_png = str(path.with_name(path.stem + ".confusion.png"))
    result = evaluate_segmentation(
        args.checkpoint,
        args.data,
        weights=args.weights,
        batch_size=8 if args.batch_size is None else args.batch_size,
        device=args.device,
        workers=args.workers,
        confusion_png=check_output(
            args.confusion or default_png or "confusion.png", inputs=[args.checkpoint, args.data], flag="--confusion"
        ),
        ignore_index=getattr(args, "ignore_index", None),
        tta=args.tta,
    )
    return print_eval(result, args.json)


def run_predict(args: argparse.Namespace) -> int:
    """``lucid predict`` with a segmentation checkpoint, model name or export: mask PNG + overlay per image."""
    from lucid.data import image_inputs
    from lucid.outputs import output_folder
    from lucid.segment import predict_masks

    out = output_folder(getattr(args, "out", None))
    if not args.onnx and len(args.inputs) < 2:
        raise ValueError("lucid predict needs a checkpoint (or model name) and at least one image")
    images = image_inputs(args.inputs if args.onnx else args.inputs[1:])  # a folder gives its images
    if args.onnx:
        records = _predict_with_export(
            Path(args.onnx),
            [str(p) for p in images],
            out,
            args.threads,
            getattr(args, "precision", "f32"),
            getattr(args, "backend", "auto"),
        )
    else:
        records = predict_masks(args.inputs[0], images, out, weights=args.weights, device=args.device, tta=args.tta)
    if args.json:
        print(_dumps(records))
        return 0
    for record in records:
        top = sorted(record["classes"].items(), key=lambda kv: -kv[1])[:4]
        shares = ", ".join(f"{name} {100 * share:.1f}%" for name, share in top)
        print(f"{record['image']}: {record['mask']} + {record['overlay']}  ({shares})")
    return 0


def _predict_with_export(
    model: Path, images: list[str], out: Path, threads: int | None, precision: str = "f32", backend: str = "auto"
) -> list[dict[str, Any]]:
    """Masks from an exported file through `lucid.deploy.Predictor` (the file's digest and
    task checked first)."""
    from lucid.deploy.predictor import Predictor
    from lucid.segment.data import read_rgb
    from lucid.segment.infer import check_mask_outputs, write_mask_files

    predictor = Predictor(model, threads=threads, backend=backend, precision=precision)
    if predictor.task != "segment":
        raise DataError(f"{model} records task {predictor.task!r}, not segmentation")
    check_mask_outputs(images, out)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    classes = predictor.classes or [str(i) for i in range(predictor.num_classes or 0)]
    for item in images:
        rgb = read_rgb(item).permute(1, 2, 0).numpy()
        (mask,) = predictor.predict([rgb])
        records.append(write_mask_files(Path(item), rgb, mask, classes, out))
    return records
