"""``lucid convert`` (foreign checkpoint -> lucid checkpoint) and ``lucid weights`` (registered weights)."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

ORDER = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    convert = subparsers.add_parser(
        "convert",
        help="convert a torchvision/timm checkpoint (or registered weights) into a lucid .safetensors file",
        description=(
            "Read a torchvision or timm MobileNet-v3 checkpoint (.pth read with weights_only=True, "
            ".safetensors), a lucid checkpoint or registered weights (e.g. IMAGENET1K_V2), check every "
            "key and shape against the lucid model, and write a lucid checkpoint."
        ),
    )
    convert.add_argument("source", help="checkpoint file, or a registered weights name such as DEFAULT")
    convert.add_argument("--model", required=True, help="lucid model name, e.g. mobilenet_v3_large")
    convert.add_argument("--out", required=True, help="output .safetensors path (written atomically)")
    convert.add_argument(
        "--num-classes",
        type=int,
        default=None,
        help="classifier size; another than the checkpoint's re-initialises the last layer",
    )
    convert.add_argument(
        "--in-channels",
        type=int,
        default=None,
        help="input channels; another than the checkpoint's adapts the stem filters",
    )
    convert.add_argument(
        "--bn-eps",
        type=float,
        default=None,
        help="BatchNorm eps (default: the source's: torchvision 1e-3, timm 1e-5, TF ports 1e-3)",
    )
    convert.add_argument(
        "--padding",
        choices=("symmetric", "same"),
        default=None,
        help="convolution padding (default: the source's; 'same' with --bn-eps 1e-3 for a timm "
        "tf_mobilenetv3_* file of a preset timm also publishes natively)",
    )
    convert.set_defaults(func=run_convert)

    listing = subparsers.add_parser("weights", help="list the registered pretrained weights")
    listing.add_argument("model", nargs="?", default=None, help="only this model's weights")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=run_weights)


def run_convert(args: argparse.Namespace) -> int:
    from lucid.models.loading import convert_checkpoint

    options = {
        "num_classes": args.num_classes,
        "in_channels": args.in_channels,
        "bn_eps": args.bn_eps,
        "padding": args.padding,
    }
    path, model = convert_checkpoint(
        args.source, args.model, args.out, **{k: v for k, v in options.items() if v is not None}
    )
    params = sum(p.numel() for p in model.parameters())
    source = (model.pretrained_cfg or {}).get("source", "lucid")
    print(
        f"converted {source} checkpoint {args.source} -> {path} ({args.model}, {params:,} parameters, "
        f"{model.config.num_classes} classes)"
    )
    return 0


def weights_table(model: str | None = None) -> list[dict[str, object]]:
    """One row per registered weights entry: name, metrics, size, and whether it is cached."""
    from lucid.models.hub import default_weights, list_weights, weights_cache_dir

    cache = weights_cache_dir()
    rows = []
    for member in list_weights(model):
        entry = member.entry
        rows.append(
            {
                "model": entry.model_name,
                "weights": member.name,
                "default": default_weights(entry.model_name) is member,
                # null where the task publishes other metrics (segmentation, detection): NaN is not JSON
                "acc@1": None if math.isnan(entry.acc1) else entry.acc1,
                "acc@5": None if math.isnan(entry.acc5) else entry.acc5,
                "dataset": entry.dataset,
                "metrics": entry.published_metrics(),
                "params": entry.num_params,
                "gflops": entry.gflops,
                "size_mb": entry.file_size_mb,
                "resize": entry.resize_size,
                "crop": entry.crop_size,
                "url": entry.url,
                "cached": (cache / entry.file_name).is_file(),
            }
        )
    return rows


def run_weights(args: argparse.Namespace) -> int:
    from lucid.models.hub import weights_cache_dir

    if args.model is not None:
        from lucid.models import get_model_factory

        get_model_factory(args.model)  # an unknown model name is an error, not an empty list
    rows = weights_table(args.model)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no registered weights for {args.model}")
        return 0
    cells = [_cells(row) for row in rows]
    header = ("model", "weights", "published metrics", "params", "GFLOPS", "MB", "cached")
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    for line in [header, *cells]:
        # Text columns left-aligned, numbers right-aligned.
        texts = [
            v.ljust(w) if i < 3 or i == 6 else v.rjust(w) for i, (v, w) in enumerate(zip(line, widths, strict=True))
        ]
        print("  ".join(texts).rstrip())
    print(f"cache: {weights_cache_dir()}")
    return 0


# How `lucid weights` names torchvision's metric keys.
METRIC_LABELS = {"acc@1": "acc@1", "acc@5": "acc@5", "miou": "mIoU", "pixel_acc": "pixel acc", "box_map": "box mAP"}


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    """One table row's texts: each weights entry with its own task's metrics on its dataset."""
    metrics = ", ".join(f"{METRIC_LABELS.get(k, k)} {v:g}" for k, v in row["metrics"].items())
    return (
        str(row["model"]),
        f"{row['weights']}{' (DEFAULT)' if row['default'] else ''}",
        f"{metrics} ({row['dataset']})",
        f"{row['params']:,}",
        f"{row['gflops']:.3f}",
        f"{row['size_mb']:.3f}",
        "yes" if row["cached"] else "no",
    )
