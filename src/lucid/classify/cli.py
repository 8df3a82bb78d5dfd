"""The classification side of ``lucid eval`` / ``lucid predict`` (thin, over `lucid.train`).

``lucid.cli.train`` hands classification checkpoints, model names, foreign weights files and
classification exports here (`lucid.classify.ClassifyTask.cli_module`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lucid.cli.table import print_eval

__all__ = ["UNUSED_EVAL_FLAGS", "UNUSED_PREDICT_FLAGS", "run_eval", "run_predict"]

UNUSED_EVAL_FLAGS: tuple[str, ...] = ()  # lucid eval's flags a classifier has no use for: none
UNUSED_PREDICT_FLAGS = ("score_threshold",)  # lucid predict's flags a classifier has no use for


def _default_confusion_path(checkpoint: str) -> str | None:
    path = Path(checkpoint)
    return str(path.with_name(path.stem + ".confusion.png")) if path.is_file() else None


def run_eval(args: argparse.Namespace) -> int:
    """``lucid eval`` of a classifier: top-1/top-5, the loss, per-class accuracy and a confusion
    matrix picture (beside the checkpoint unless ``--confusion`` names another file)."""
    from lucid.outputs import check_output
    from lucid.train import evaluate

    confusion = args.confusion or _default_confusion_path(args.checkpoint) or "confusion.png"
    check_output(confusion, inputs=[args.checkpoint, args.data], flag="--confusion")
    result = evaluate(
        args.checkpoint,
        args.data,
        weights=args.weights,
        batch_size=128 if args.batch_size is None else args.batch_size,
        device=args.device,
        workers=args.workers,
        confusion_png=confusion,
        tta=args.tta,
    )
    if result.confusion_error:
        print(f"lucid eval: warning: confusion matrix not written: {result.confusion_error}", file=sys.stderr)
    return print_eval(result, args.json)


def run_predict(args: argparse.Namespace) -> int:
    """``lucid predict`` with a classifier (a checkpoint, model name or export): the top-k labels
    of each image, and with ``--out`` each image labelled as ``<name>.label.png``."""
    from lucid.data import image_inputs
    from lucid.outputs import output_folder
    from lucid.train.metrics import dumps
    from lucid.train.predict import draw_predictions, format_predictions, predictions_json

    args.topk = 5 if args.topk is None else args.topk
    out = None if args.out is None else output_folder(args.out)
    if args.topk < 1:
        raise ValueError(f"--topk must be a positive integer, got {args.topk}")
    if args.onnx:
        from lucid.deploy import Predictor

        images = [str(p) for p in image_inputs(args.inputs)]  # a folder gives its images
        predictor = Predictor(args.onnx, threads=args.threads, backend=args.backend, precision=args.precision)
        predictions = predictor.predict(images, topk=args.topk)
    else:
        from lucid.train import predict

        if len(args.inputs) < 2:
            raise ValueError(
                "lucid predict needs a checkpoint (or model name) and at least one image: lucid predict CKPT IMAGE..."
            )
        source, images = args.inputs[0], [str(p) for p in image_inputs(args.inputs[1:])]
        predictions = predict(source, images, topk=args.topk, weights=args.weights, device=args.device, tta=args.tta)
    drawn = draw_predictions(images, predictions, out) if out is not None else []
    if args.json:
        print(dumps(predictions_json(images, predictions), indent=2))
    else:
        print(format_predictions(images, predictions))
    if drawn:
        print(f"labelled images: {out} ({len(drawn)} x <name>.label.png)", file=sys.stderr if args.json else sys.stdout)
    return 0
