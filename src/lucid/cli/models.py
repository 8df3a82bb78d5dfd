"""``lucid models``: the registered models with their parameter counts."""

from __future__ import annotations

import argparse
import json

ORDER = 10


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list the registered models with parameter counts")
    parser.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'mobilenet_v3_*'")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def model_table(pattern: str = "*") -> list[dict[str, object]]:
    """One row per registered model: name and parameter count (built on the meta device, no memory)."""
    import torch

    from lucid.models import create_model, list_models

    rows = []
    for name in list_models(pattern):
        with torch.device("meta"):
            model = create_model(name)
        rows.append({"name": name, "params": sum(p.numel() for p in model.parameters())})
    return rows


def run(args: argparse.Namespace) -> int:
    rows = model_table(args.pattern)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max([len("model")] + [len(str(r["name"])) for r in rows])
    print(f"{'model':<{width}}  {'params':>12}")
    for row in rows:
        print(f"{row['name']:<{width}}  {row['params']:>12,}")
    return 0
