"""``lucid export``, ``lucid quantize`` and ``lucid bench``: the command line of `lucid.deploy`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

ORDER = 40


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``export``, ``quantize`` and ``bench``."""
    _register_export(subparsers)
    _register_quantize(subparsers)
    _register_bench(subparsers)


def _register_export(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a checkpoint or model to ONNX/OpenVINO/ExecuTorch/TorchScript, verified against the eager model",
        description="Export CKPT (a lucid checkpoint or a registered model name) with BatchNorm folded and "
        "the preprocessing recorded, then check the file against the eager model on random input. "
        "--format all writes every available format into the folder --out and prints the deployment matrix "
        "(per file and runtime: output difference, agreement with eager and the task score on real images, "
        "size, latency).",
    )
    parser.add_argument("ckpt", metavar="CKPT", help="a lucid checkpoint (.safetensors) or a registered model name")
    parser.add_argument(
        "--format",
        default="onnx",
        choices=["onnx", "openvino", "executorch", "torchscript", "all"],
        help="default: onnx; openvino needs lucid[deploy], executorch lucid[mobile]",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="FILE|DIR",
        help=".onnx, .xml (OpenVINO IR, + .bin), .pte (ExecuTorch), .pt/.ts (TorchScript); a folder for --format all "
        "(default: beside CKPT with the format's suffix, best.safetensors to best.onnx; STEM-export/ for all; "
        "NAME.onnx here for a model name)",
    )
    parser.add_argument(
        "--data",
        default=None,
        metavar="DIR|digits",
        help="--format all: real images for agreement, score (top-1 / mIoU) and int8 calibration (a folder, "
        "or an archive of one as lucid train reads it) "
        "(default: the checkpoint's recorded data and its held-out split; digits when it records none)",
    )
    parser.add_argument("--batch-size", type=int, default=None, metavar="N", help="fixed batch of the file (default 1)")
    parser.add_argument("--opset", type=int, default=None, metavar="N", help="ONNX opset (14..20; default 18)")
    parser.add_argument("--dynamic-batch", action="store_true", help="free batch dimension (checked at batch 1 and 3)")
    parser.add_argument("--weights", default=None, help="for a model name: registered weights (e.g. DEFAULT) or a file")
    parser.add_argument("--image-size", type=int, default=None, metavar="S", help="override the recorded input size")
    parser.add_argument(
        "--dynamo", action="store_true", help="use torch's torch.export-based ONNX exporter (opset >= 18)"
    )
    parser.add_argument(
        "--rtol", type=float, default=None, help="allowed max difference, relative to the largest output (default 1e-4)"
    )
    parser.set_defaults(func=run_export)


def _register_quantize(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "quantize",
        help="static int8 quantization of an exported ONNX model (QDQ, per-channel), checked against fp32",
        description="Calibrate on real images and write an int8 model; report its top-1 agreement with the "
        "fp32 model and, where the images have labels, both models' top-1.",
    )
    parser.add_argument(
        "model",
        metavar="FILE",
        help="an ONNX model (or, for --backend openvino, an IR .xml) written by lucid export; "
        "for --backend executorch, a lucid checkpoint or registered model name",
    )
    parser.add_argument(
        "--backend",
        default="onnxruntime",
        choices=["onnxruntime", "openvino", "executorch"],
        help="onnxruntime: QDQ .onnx (default); openvino: NNCF-quantized IR .xml (lucid[deploy]); "
        "executorch: XNNPACK-quantized .pte of a checkpoint or model name (lucid[mobile])",
    )
    parser.add_argument(
        "--calib",
        default=None,
        metavar="DIR|digits",
        help="the model's task's data: class folders or 'digits' (classification), a segmentation data folder "
        "(images/ + masks/); train/ + val/ split them. Default: the data the export records, its training split "
        "calibrating and its held-out split scoring",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="FILE.int8.onnx (onnxruntime), FILE.int8.xml (openvino) or FILE.int8.pte (executorch) "
        "(default: beside FILE, STEM.int8 plus that suffix)",
    )
    parser.add_argument("--num-calib", type=int, default=256, metavar="N", help="calibration images (default 256)")
    parser.add_argument("--num-eval", type=int, default=None, metavar="N", help="evaluation images (default: all)")
    parser.add_argument(
        "--method",
        default=None,
        choices=["minmax", "entropy", "percentile"],
        help="onnxruntime: range calibration (default minmax)",
    )
    parser.add_argument(
        "--per-tensor", action="store_true", help="onnxruntime: per-tensor instead of per-channel weights"
    )
    parser.add_argument(
        "--full-range",
        action="store_true",
        help="onnxruntime: 8-bit instead of 7-bit weights (only for CPUs with VNNI; AVX2 saturates)",
    )
    parser.add_argument("--quantize-classifier", action="store_true", help="also quantize the final layer")
    parser.add_argument(
        "--max-drop",
        type=float,
        default=None,
        metavar="POINTS",
        help="fail (and write nothing) if top-1 drops by more than this",
    )
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="ONNX Runtime threads")
    parser.set_defaults(func=run_quantize)


def _register_bench(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="latency, training speed and memory of lucid's deployment paths vs torchvision",
        description="One run, same weights, alternating blocks of repetitions: torchvision eager, lucid eager "
        "(and channels-last), TorchScript, ONNX Runtime fp32 and int8, OpenVINO fp32 and int8, ExecuTorch (batch 1); "
        "achieved GFLOP/s against the CPU's fp32 peak; plus training images/s and peak memory.",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=["mobilenet_v3_small", "mobilenet_v3_large"],
        metavar="MODEL",
        help="registered classification presets to benchmark (default mobilenet_v3_small mobilenet_v3_large)",
    )
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 32], metavar="N", help="batch sizes (default 1 32)")
    parser.add_argument(
        "--repeats", type=int, default=20, metavar="N", help="timed calls per contender, at least (default 20)"
    )
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="default: every usable core")
    parser.add_argument(
        "--train-batch", type=int, default=32, metavar="N", help="batch size of the training-speed rows (default 32)"
    )
    parser.add_argument(
        "--train-steps", type=int, default=10, metavar="N", help="timed training steps per model (default 10)"
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        default=15.0,
        metavar="S",
        help="seconds per model and batch: more rounds than --repeats while time is left",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument(
        "--no-executorch", action="store_true", help="leave out the ExecuTorch contender (slowest to export)"
    )
    parser.add_argument(
        "--no-detection", action="store_true", help="leave out the detection row (exported SSDLite vs torchvision)"
    )
    parser.add_argument(
        "--passive-wait",
        action="store_true",
        help="idle runtime threads sleep instead of spin-waiting (for a CPU shared with busy processes)",
    )
    parser.add_argument(
        "--out", default=None, metavar="FILE.md", help="write the Markdown report (e.g. docs/benchmarks.md)"
    )
    parser.set_defaults(func=run_bench)


def _one_line(command: str, action: Callable[[], int]) -> int:
    """Run ``action``; a lucid refusal (failed verification, missing runtime, bad file) is one line,
    exit 1. An output path refused before any work is a usage error, exit 2 as in every command."""
    from lucid.errors import LucidError
    from lucid.outputs import OutputError

    try:
        return action()
    except OutputError:
        raise
    except LucidError as exc:
        print(f"lucid {command}: error: {exc}", file=sys.stderr)
        return 1


def run_export(args: argparse.Namespace) -> int:
    """Export and verify (or, with --format all, the matrix); a failed verification is exit status 1.

    Every task goes the one way: the model's task (`lucid.tasks`) says what its file holds
    (a segmentation model keeps a free image size and records its classes and void value)."""
    return _one_line("export", lambda: _export_all(args) if args.format == "all" else _export(args))


def _export(args: argparse.Namespace) -> int:
    from lucid.deploy import VerificationError, export

    if args.data is not None:
        raise ValueError(
            f"--data applies to --format all (real images for its matrix); a single --format {args.format} "
            "export is verified on random input"
        )
    try:
        result = export(
            args.ckpt,
            args.out,
            args.format,
            opset=args.opset,
            dynamic_batch=args.dynamic_batch,
            weights=args.weights,
            image_size=args.image_size,
            dynamo=args.dynamo,
            rtol=1e-4 if args.rtol is None else args.rtol,
            batch_size=1 if args.batch_size is None else args.batch_size,
        )
    except VerificationError as exc:
        print(f"lucid export: verification failed: {exc}", file=sys.stderr)
        return 1
    print(result.summary())
    prep = result.preprocessing
    outputs = ", ".join(f"'{name}'" for name in result.outputs)
    print(
        f"input 'input' (N, {prep.in_channels}, {prep.image_size[0]}, {prep.image_size[1]}), "
        f"output{'s' if len(result.outputs) > 1 else ''} {outputs}; "
        f"mean {list(prep.mean)}, std {list(prep.std)}, resize {prep.resize_size}"
        + (f", {len(result.classes)} class names" if result.classes else "")
    )
    return 0


def _export_all(args: argparse.Namespace) -> int:
    from lucid.deploy.matrix import export_all, format_matrix

    given = (
        ("--opset", args.opset),
        ("--dynamo", args.dynamo or None),
        ("--batch-size", args.batch_size),
        ("--dynamic-batch", args.dynamic_batch or None),
        ("--rtol", args.rtol),
    )
    for flag, value in given:
        if value is not None:
            raise ValueError(f"{flag} does not apply to --format all (each format uses its default)")
    if args.data is not None:  # an archive or its address, as lucid train and lucid eval read one
        from lucid.data import data_folder

        args.data, note = data_folder(args.data)
        if note:
            print(f"lucid export: {note}", file=sys.stderr, flush=True)
    rows = export_all(
        args.ckpt,
        args.out,
        weights=args.weights,
        data=args.data,
        image_size=args.image_size,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(format_matrix(rows))
    return 0


def run_quantize(args: argparse.Namespace) -> int:
    """Quantize, then print the file, the agreement and the accuracies."""
    from lucid.deploy import quantize

    options: dict[str, Any] = {}
    if args.method is not None:
        options["calibrate_method"] = args.method
    if args.per_tensor:
        options["per_channel"] = False
    if args.full_range:
        options["reduce_range"] = False

    def run() -> int:
        result = quantize(
            args.model,
            args.out,
            args.calib,
            backend=args.backend,
            num_calib=args.num_calib,
            num_eval=args.num_eval,
            quantize_classifier=args.quantize_classifier,
            max_top1_drop=args.max_drop,
            threads=args.threads,
            **options,
        )
        print(result.summary())
        return 0

    return _one_line("quantize", run)


def run_bench(args: argparse.Namespace) -> int:
    """Benchmark (progress on stderr), then print the Markdown report."""
    from lucid.deploy import bench

    for line in bench_preamble(args):
        print(line, file=sys.stderr, flush=True)
    result = bench(
        args.models,
        args.batch,
        args.repeats,
        args.threads,
        train_batch=args.train_batch,
        train_steps=args.train_steps,
        time_budget=args.time_budget,
        memory=not args.no_memory,
        passive_wait=args.passive_wait,
        executorch=not args.no_executorch,
        detection=not args.no_detection,
        out=args.out,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    from lucid.deploy.report import markdown

    print(markdown(result))
    return 0


def bench_preamble(args: argparse.Namespace) -> list[str]:
    """What ``lucid bench`` says before it starts: a rough lower bound of its duration (the timed
    budget of every model and batch; exports and the memory processes come on top), and a warning
    when the load average says other processes keep the cores busy (latencies would be theirs too)."""
    import os

    timed = args.time_budget * len(args.models) * len(args.batch)
    lines = [
        f"lucid bench: {len(args.models)} model(s) x {len(args.batch)} batch size(s), "
        f"about {timed / 60:.1f} min of timed runs plus exports"
        + ("" if args.no_memory else " and the peak-memory processes")
        + "; progress below"
    ]
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return lines
    cores = os.cpu_count() or 1
    if load > 0.5 * cores:
        lines.append(
            f"lucid bench: warning: load average {load:.1f} on {cores} cores: other processes are busy, so "
            "latencies will be slower and noisier than on an idle machine (consider --passive-wait)"
        )
    return lines
