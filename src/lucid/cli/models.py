"""``lucid models``: the registered models with their parameter counts and multiply-adds."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

ORDER = 10

DEFAULT_IMAGE_SIZE = 224


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list the registered models with parameter counts and multiply-adds")
    parser.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'mobilenet_v3_*'")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--image-size",
        type=int,
        default=DEFAULT_IMAGE_SIZE,
        metavar="N",
        help=f"square input size the MACs are counted at (default {DEFAULT_IMAGE_SIZE})",
    )
    parser.set_defaults(func=run)


def model_table(pattern: str = "*", image_size: int = DEFAULT_IMAGE_SIZE) -> list[dict[str, object]]:
    """One row per registered model: name, parameters, and MACs for one image of ``image_size``²."""
    from functools import partial

    from lucid.models import create_model, list_models

    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image size must be a positive int, got {image_size!r}")
    return [{"name": name, **count_model(partial(create_model, name), image_size)} for name in list_models(pattern)]


def count_model(factory: Callable[[], nn.Module], image_size: int = DEFAULT_IMAGE_SIZE) -> dict[str, object]:
    """Parameters and MACs (`lucid.visual.summary`) of the model ``factory()`` builds.

    The model is first built and traced on the meta device: shapes and MAC counts need no
    data, so this costs no memory and no arithmetic. A forward that needs real values (data-
    dependent branches, tensors made on the CPU inside ``forward``) fails there, and the model
    is then built normally. ``macs`` is None when even that forward fails at this size.

    A model that resizes every input to a fixed size itself (torchvision's detection transform,
    ``model.transform.fixed_size``: SSDLite's 320x320) is counted at that size, and the row's
    ``image_size`` says so: counted "at 224" it would be computed at 320 anyway.
    """
    import torch

    from lucid.visual import TraceError, summary

    with torch.device("meta"):
        model = factory()
    params = sum(p.numel() for p in model.parameters())
    for attempt in ("meta", "cpu"):
        if attempt == "cpu":
            model = factory()
        channels = getattr(model, "in_channels", 3)
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            channels = 3
        try:
            macs = summary(model, (1, channels, image_size, image_size)).total_macs
        except TraceError:
            continue
        return {"params": params, "macs": macs, "image_size": _counted_size(model, image_size)}
    return {"params": params, "macs": None, "image_size": image_size}


def _counted_size(model: object, image_size: int) -> int:
    """The side the model computes at for an ``image_size`` input: its transform's fixed side, if any."""
    fixed = getattr(getattr(model, "transform", None), "fixed_size", None)
    if isinstance(fixed, (tuple, list)) and len(fixed) == 2 and fixed[0] == fixed[1] and isinstance(fixed[0], int):
        return int(fixed[0])
    return image_size


def _macs_text(macs: object) -> str:
    return f"{macs / 1e6:,.1f} M" if isinstance(macs, (int, float)) else "-"


def run(args: argparse.Namespace) -> int:
    rows = model_table(args.pattern, args.image_size)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max([len("model")] + [len(str(r["name"])) for r in rows])
    macs_header = f"MACs@{args.image_size}"
    print(f"{'model':<{width}}  {'params':>12}  {macs_header:>12}")
    for row in rows:
        at = (
            f" (its own input, {row['image_size']}x{row['image_size']})" if row["image_size"] != args.image_size else ""
        )
        print(f"{row['name']:<{width}}  {row['params']:>12,}  {_macs_text(row['macs']):>12}{at}")
    return 0
