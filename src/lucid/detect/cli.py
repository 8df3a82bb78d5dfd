"""The detection side of ``lucid eval`` / ``lucid predict`` (thin, over `lucid.detect.infer`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lucid.cli.table import print_eval

__all__ = [
    "TRAIN_GROUP",
    "TRAIN_HELP",
    "UNUSED_EVAL_FLAGS",
    "UNUSED_PREDICT_FLAGS",
    "add_train_arguments",
    "run_eval",
    "run_predict",
]

UNUSED_EVAL_FLAGS: tuple[str, ...] = ()  # lucid eval's flags a detector has no use for: none
UNUSED_PREDICT_FLAGS = ("topk",)  # lucid predict's flags a detector has no use for


TRAIN_GROUP = "detection (--task detect)"
TRAIN_HELP = "Photos with boxes: Pascal VOC, YOLO or COCO JSON. --img-size, --classes and the shared flags apply too."


def add_train_arguments(group: argparse._ArgumentGroup) -> None:
    """The flags of ``lucid train`` that only detection has, into its ``--help`` group."""
    group.add_argument(
        "--min-negatives",
        type=int,
        metavar="N",
        help="detect: least hard background anchors per photo in the classification loss (default 64; 0 is "
        "torchvision's loss, 3 per matched anchor only)",
    )


def run_eval(args: argparse.Namespace) -> int:
    """``lucid eval`` of a detection checkpoint: COCO mAP@[.5:.95], mAP@0.5 and per-class AP."""
    from lucid.detect.infer import evaluate_detection

    if args.confusion is not None:
        raise ValueError("--confusion: a detection eval has no confusion matrix (it reports AP per class)")
    result = evaluate_detection(
        args.checkpoint,
        args.data,
        weights=args.weights,
        batch_size=16 if args.batch_size is None else args.batch_size,
        device=args.device,
        workers=args.workers,
        tta=args.tta,
    )
    return print_eval(result, args.json)


def run_predict(args: argparse.Namespace) -> int:
    """``lucid predict`` with a detection checkpoint or model name: boxes drawn on each photo + a JSON."""
    from lucid.data import image_inputs
    from lucid.detect.infer import predict_boxes
    from lucid.outputs import output_folder

    args.score_threshold = 0.3 if args.score_threshold is None else args.score_threshold
    out = output_folder(getattr(args, "out", None))
    if getattr(args, "onnx", None):
        records = _predict_with_export(args, out)
    else:
        if len(args.inputs) < 2:
            raise ValueError("lucid predict needs a checkpoint (or model name) and at least one image")
        images = image_inputs(args.inputs[1:])
        records = predict_boxes(
            args.inputs[0],
            images,
            out,
            weights=args.weights,
            score_threshold=args.score_threshold,
            device=args.device,
            tta=args.tta,
        )
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    for record in records:
        found = ", ".join(f"{d['label']} {d['score']:.2f}" for d in record["detections"][:8]) or "no boxes"
        more = len(record["detections"]) - 8
        print(f"{record['image']}: {record['drawn']}  ({found}{f', +{more} more' if more > 0 else ''})")
    print(f"detections: {out / 'detections.json'}")
    return 0


def _predict_with_export(args: argparse.Namespace, out: Path) -> list[dict]:
    """An exported detector (``.onnx``/``.xml``/``.pte``) through `lucid.deploy.Predictor`
    (NMS on the host), drawn and written as a checkpoint's detections are."""
    from lucid.data import image_inputs
    from lucid.deploy.predictor import Predictor
    from lucid.detect.infer import write_detections

    if not 0 <= args.score_threshold <= 1:
        raise ValueError(f"--score-threshold must be in [0, 1], got {args.score_threshold}")
    images = image_inputs(args.inputs)
    if not images:
        raise ValueError("lucid predict EXPORT needs at least one image")
    predictor = Predictor(args.onnx, threads=args.threads, backend=args.backend, precision=args.precision)
    found = predictor.predict([str(p) for p in images], score_threshold=args.score_threshold)
    return write_detections([(image, None, detection) for image, detection in zip(images, found, strict=True)], out)
