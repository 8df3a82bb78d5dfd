"""``lucid summary`` and ``lucid mermaid``: a model's layer table and its flowchart.

Both take a registered model name (``lucid models`` lists them) or a lucid checkpoint file,
and are thin layers over `lucid.visual.summary` and `lucid.visual.build_mermaid_chart`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from lucid.preprocessing import MAX_IMAGE_SIZE

ORDER = 30

_MARKDOWN_SUFFIXES = {".md", ".markdown"}


def register(subparsers: argparse._SubParsersAction) -> None:
    summary = subparsers.add_parser("summary", help="per-layer table: output shapes, parameters, multiply-adds (MACs)")
    _add_model_arguments(summary)
    summary.add_argument("--json", action="store_true", help="print JSON instead of a table")
    summary.set_defaults(func=run_summary)

    mermaid = subparsers.add_parser("mermaid", help="the model as a mermaid flowchart with tensor shapes")
    _add_model_arguments(mermaid)
    mermaid.add_argument(
        "--out", "-o", metavar="FILE", help="write here (.md: a ```mermaid block; else raw, e.g. .mmd); default stdout"
    )
    mermaid.add_argument("--depth", type=int, default=3, help="module-tree levels drawn (model = 0; default 3)")
    mermaid.add_argument(
        "--direction", default="LR", choices=("LR", "RL", "TB", "TD", "BT"), help="main flow direction"
    )
    mermaid.add_argument("--no-shapes", action="store_true", help="leave the tensor shapes out")
    mermaid.add_argument("--no-collapse", action="store_true", help="draw every repeated block")
    mermaid.add_argument("--show-params", action="store_true", help="add parameter counts to the labels")
    mermaid.add_argument("--title", help="title of the outer box (default: the model's name)")
    mermaid.set_defaults(func=run_mermaid)


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a registered model name (see `lucid models`) or a lucid checkpoint file")
    parser.add_argument(
        "--input-size",
        nargs="+",
        type=int,
        metavar="N",
        help="one input's size without the batch, e.g. 3 224 224 (default: the model's in_channels, 224, 224)",
    )
    parser.add_argument("--batch-size", type=int, default=1, help="batch size of the example input (default 1)")


def load_model_or_checkpoint(spec: str) -> Any:
    """The model ``spec`` names (a registered name or a lucid checkpoint file), with its preprocessing:
    `lucid.models.resolve.resolve`, so a checkpoint trained at 32 px is shown at 32 px."""
    from lucid.models.resolve import resolve

    return resolve(spec)


MAX_CHANNELS = 1024  # an example input of more channels than any MobileNet-v3 input takes is a typo
MAX_BATCH = 1024


def input_shape_for(resolved: Any, input_size: list[int] | None, batch_size: int) -> tuple[int, ...]:
    """``(batch, *input_size)``; by default one image of the size and channels the model records
    (``resolved.preprocessing``: its training run's, its weights', else 224x224)."""
    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
    if input_size is None:
        prep = resolved.preprocessing
        input_size = [prep.in_channels, *prep.image_size]
    bad = [n for n in input_size if n < 1]
    if bad:
        raise ValueError(f"--input-size values must be >= 1, got {' '.join(map(str, input_size))}")
    if max(input_size[1:], default=0) > MAX_IMAGE_SIZE or input_size[0] > MAX_CHANNELS or batch_size > MAX_BATCH:
        raise ValueError(
            f"--input-size {' '.join(map(str, input_size))} with --batch-size {batch_size} is too large: at most "
            f"{MAX_IMAGE_SIZE} pixels a side, {MAX_CHANNELS} channels and a batch of {MAX_BATCH}"
        )
    return (batch_size, *input_size)


def run_summary(args: argparse.Namespace) -> int:
    from lucid.visual import summary

    resolved = load_model_or_checkpoint(args.model)
    result = summary(resolved.model, input_shape_for(resolved, args.input_size, args.batch_size))
    print(json.dumps(result.to_dict(), indent=2) if args.json else result)
    return 0


def render_chart_file(chart: str, path: str | os.PathLike[str]) -> str:
    """The file text for ``chart``: fenced as ```mermaid for Markdown (renders on GitHub/GitLab), raw
    otherwise; its last chart line is lucid's mark (a mermaid comment; the chart's ``%%{init}%%``
    directive stays first), so lucid may write the file again."""
    from lucid.outputs import CHART_MARK

    if Path(path).suffix.lower() in _MARKDOWN_SUFFIXES:
        return f"```mermaid\n{chart}\n{CHART_MARK}\n```\n"
    return f"{chart}\n{CHART_MARK}\n"


def run_mermaid(args: argparse.Namespace) -> int:
    from lucid.checkpoint import atomic_write
    from lucid.visual import build_mermaid_chart

    resolved = load_model_or_checkpoint(args.model)
    chart = build_mermaid_chart(
        resolved.model,
        input_shape=input_shape_for(resolved, args.input_size, args.batch_size),
        depth=args.depth,
        direction=args.direction,
        show_shapes=not args.no_shapes,
        collapse_repeats=not args.no_collapse,
        show_params=args.show_params,
        title=args.title,
    )
    if args.out is None:
        print(chart)
        return 0
    from lucid.outputs import check_output

    check_output(args.out, inputs=[args.model], flag="--out")
    text = render_chart_file(chart, args.out)
    target = atomic_write(args.out, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    print(f"wrote {target}", file=sys.stderr)
    return 0
