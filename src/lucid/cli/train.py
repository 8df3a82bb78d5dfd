"""``lucid train``, ``lucid eval`` and ``lucid predict``: thin layers over `lucid.train`."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ORDER = 30


def _device(text: str) -> str:
    from lucid.train.config import check_device

    try:
        return check_device(text, "--device")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _concrete_device(name: str) -> str:
    """``auto`` resolved to the device it picks here (eval and predict run on one device)."""
    from lucid.train.distributed import auto_device

    return auto_device() if name == "auto" else name


def _momentum(text: str) -> float | None:
    return None if text == "model" else float(text)


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_train(subparsers)
    _register_eval(subparsers)
    _register_predict(subparsers)


def _register_train(subparsers: argparse._SubParsersAction) -> None:
    """``lucid train``: its flags in ``--help`` groups, one function each."""
    parser = subparsers.add_parser(
        "train",
        help="train a classifier, segmentation model or detector on --data (default: the embedded digits)",
        description=(
            "Train a registered model. With no arguments: mobilenet_v3_small(in_channels=1, num_classes=10) on "
            "scikit-learn's bundled digits (8x8 -> 32x32 bilinear, seeded 1437/360 split). Runs under "
            "`torchrun --nproc-per-node N -m lucid train ...` with DDP. Unset flags keep TrainConfig's defaults."
        ),
        argument_default=argparse.SUPPRESS,
    )
    _add_data_arguments(parser)
    _add_augmentation_arguments(parser)
    _add_model_arguments(parser)
    _add_optimisation_arguments(parser)
    _add_machine_arguments(parser)
    _add_output_arguments(parser)
    _add_task_arguments(parser)
    parser.set_defaults(func=run_train)


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The data folder, its split, and how its images are read."""
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        metavar="DIR",
        help="data folder, or an archive of one (.zip, .tar.gz ..., or its https:// address: unpacked once "
        "into lucid's cache) "
        "(default: the embedded digits); the task follows from its layout. Classify: "
        "DIR/train/<class>/ + DIR/val/<class>/ (or valid/, test/), DIR/<class>/ split by --val-fraction, or "
        "photos named by class (DIR/train/cat.0.jpg, Oxford-IIIT Pet's images/) or labelled by a CSV table "
        "(DIR/train.csv + DIR/train/) or MATLAB files (Flowers-102, Stanford Cars); --task segment: DIR/train/ + "
        "DIR/val/ each with images/ + masks/, DIR/train/ + DIR/trainannot/, DIR/images/training/ + "
        "DIR/annotations/training/ (ADE20K), Pascal VOC, Cityscapes, Oxford-IIIT Pet's trimaps, COCO/YOLO/LabelMe/"
        "Supervisely/VIA outlines, one mask per object (DSB 2018), or DIR/images/ + "
        "DIR/masks/ split by --val-fraction; --task detect: Pascal VOC, VOC XML beside the photos, COCO JSON, "
        "YOLO labels, CSV box tables, LabelMe JSON, KITTI, Supervisely, VIA, Create ML or CVAT files "
        "(docs/training.md, docs/segmentation.md, docs/detection.md)",
    )
    data.add_argument(
        "--img-size",
        type=int,
        metavar="N",
        help="training/eval image size (default 32 for digits; for folders the median short side of the "
        "images rounded to a multiple of 32, at most 224; photos under 64 px train "
        "mobilenet_v3_small_lowres at their size, or with --img-size the given model)",
    )
    data.add_argument(
        "--in-channels",
        type=int,
        metavar="C",
        help="1 (grey) or 3 (RGB); default 1 for digits, 3 for folders, or the --weights checkpoint's",
    )
    data.add_argument(
        "--val-fraction",
        type=float,
        metavar="F",
        help="validation fraction of the seeded, stratified split of the digits or of a folder of class "
        "folders, or of one images/ + masks/ folder pair (--task segment) (default 0.2)",
    )
    data.add_argument(
        "--memory-budget",
        type=float,
        metavar="GB",
        help="folders: decode the images (and masks, boxes) once into memory when they fit in GB "
        "gibibytes (default: 25%% of RAM, at most 4); larger sets stream from disk through --workers; 0 always "
        "streams",
    )
    data.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="data-loader worker processes (default: 0 for sets decoded into memory and augmented a batch at "
        "a time; else one per core the training threads leave free, all of them on a GPU, at most 8; "
        "0 reads in the training process)",
    )
    data.add_argument(
        "--limit-train",
        type=int,
        metavar="N",
        help="train on a seeded random subset of N images (smoke runs)",
    )
    data.add_argument("--limit-val", type=int, metavar="N", help="validate on a seeded random subset of N images")
    data.add_argument(
        "--skip-verify",
        dest="verify_images",
        action="store_false",
        help="folders: do not decode every image before training",
    )


def _add_augmentation_arguments(parser: argparse.ArgumentParser) -> None:
    """How training images are augmented, and how the result is scored (test-time flip)."""
    from lucid.data import TTA_CHOICES
    from lucid.train.config import AUTO_AUGMENTS

    augmentation = parser.add_argument_group("augmentation")
    augmentation.add_argument(
        "--auto-augment",
        choices=AUTO_AUGMENTS,
        help="folders: TrivialAugmentWide, AutoAugment(ImageNet) or none (default none)",
    )
    augmentation.add_argument(
        "--hflip",
        type=float,
        metavar="P",
        help="folders: horizontal-flip probability (default 0.5; digits are never flipped)",
    )
    augmentation.add_argument(
        "--random-erase",
        type=float,
        metavar="P",
        help="folders: random-erasing probability (default 0)",
    )
    augmentation.add_argument(
        "--tta",
        choices=TTA_CHOICES,
        help="test-time augmentation of the best epoch's final scores (epochs validate in one pass), recorded for "
        "lucid eval / predict: flip (each image and its mirror: logits or masks averaged, detection's default boxes "
        "merged) or none (default: flip for segmentation and detection trained with flips and for small photos, "
        "else none)",
    )


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The network and the weights it starts from."""
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        metavar="NAME",
        help="registered model name (see `lucid models`; default mobilenet_v3_small)",
    )
    model.add_argument(
        "--weights",
        metavar="W",
        help="fine-tune from a checkpoint file or registered weights name; the head is replaced for the data's classes",
    )
    model.add_argument("--dropout", type=float, metavar="P", help="classifier dropout (default: the model's)")
    model.add_argument(
        "--bn-momentum",
        type=_momentum,
        metavar="M",
        help="BatchNorm momentum for training (default 0.1; 'model' keeps the model's own, 0.01 for the presets)",
    )


def _add_optimisation_arguments(parser: argparse.ArgumentParser) -> None:
    """The optimizer, its schedule and the run's length."""
    from lucid.train.config import OPTIMIZERS, SCHEDULERS

    optim = parser.add_argument_group("optimisation")
    optim.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help="epochs (default 10; with --time-budget: an upper bound on the fitted count)",
    )
    optim.add_argument(
        "--time-budget",
        type=float,
        metavar="MINUTES",
        help="wall-clock minutes for the whole run: the epoch count (and so the schedule) is fitted to it "
        "after timing the first steps; the run ends within the budget + 5 %%",
    )
    optim.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="batch size per process (default 64; 256 for 25,600+ small photos; segment 8, detect 16)",
    )
    optim.add_argument(
        "--lr",
        type=float,
        help="learning rate per process batch (default at batch 64: sgd 0.1, rmsprop 0.01, adamw 0.002; "
        "scaled down linearly for smaller batches)",
    )
    optim.add_argument(
        "--opt",
        choices=OPTIMIZERS,
        help="optimizer (default sgd with Nesterov momentum; rmsprop uses TF-style eps 0.0316)",
    )
    optim.add_argument("--momentum", type=float, help="sgd/rmsprop momentum (default 0.9)")
    optim.add_argument(
        "--weight-decay",
        type=float,
        metavar="WD",
        help="weight decay on weights, not on BatchNorm/bias (default per optimizer)",
    )
    optim.add_argument("--sched", choices=SCHEDULERS, help="per-step cosine decay or step decay (default cosine)")
    optim.add_argument(
        "--warmup-epochs",
        type=float,
        metavar="E",
        help="linear warm-up from 1%% of the rate (default 1)",
    )
    optim.add_argument("--step-size", type=int, metavar="E", help="step schedule: epochs between decays (default 3)")
    optim.add_argument("--step-gamma", type=float, metavar="G", help="step schedule: decay factor (default 0.1)")
    optim.add_argument("--label-smoothing", type=float, metavar="S", help="cross-entropy label smoothing (default 0.1)")
    optim.add_argument(
        "--ema",
        action="store_true",
        help="keep an exponential moving average of the weights; it is evaluated and saved",
    )
    optim.add_argument("--ema-decay", type=float, metavar="D", help="EMA decay per step (default 0.999, warmed up)")
    optim.add_argument("--seed", type=int, help="seed of everything, and of the digits split (default 0)")


def _add_machine_arguments(parser: argparse.ArgumentParser) -> None:
    """Where and how fast the run computes: device, precision, kernels and threads."""
    from lucid.train.config import PRECISIONS

    machine = parser.add_argument_group("machine")
    machine.add_argument(
        "--device",
        type=_device,
        help="auto (default: CUDA when there is a GPU, then Apple's MPS, else the CPU), cpu, cuda, cuda:N or mps",
    )
    machine.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="auto (default): bf16 autocast on CUDA (fp16 + gradient scaler on GPUs without bf16), fp32 on the "
        "CPU; fp32 turns autocast off",
    )
    machine.add_argument("--amp", action="store_true", help="the same as --precision bf16")
    machine.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        help="channels-last memory format (default on: faster depthwise convolutions on CPU)",
    )
    machine.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        help="deterministic kernels (default: on for the CPU; off on a GPU, where cuDNN's fastest "
        "convolutions are not deterministic)",
    )
    machine.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads for training (default: torch's, fewer when other processes keep cores busy)",
    )


def _add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """The run folder and what the run prints."""
    out = parser.add_argument_group("output")
    out.add_argument("--out", metavar="DIR", help="output folder (default: a new timestamped folder under ./runs/)")
    out.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run in DIR from its last completed epoch (--epochs may extend it)",
    )
    out.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars (epoch lines only)")
    out.add_argument(
        "--record-indices",
        action="store_true",
        help="debug: record each process's sampler indices in summary.json",
    )


def _add_task_arguments(parser: argparse.ArgumentParser) -> None:
    """``--task``, then each task's own flags in its own ``--help`` group (its CLI module's
    ``TRAIN_GROUP`` and ``TRAIN_HELP``, filled by its ``add_train_arguments``, where it has one)."""
    import importlib

    from lucid.tasks import get_task, task_names

    parser.add_argument(
        "--task",
        choices=task_names(),
        help="classify (default), segment (LR-ASPP) or detect (SSDLite); default: the task of --model, of the "
        "--resume run, or of the data's layout",
    )
    for name in task_names():
        cli = importlib.import_module(get_task(name).cli_module)
        if hasattr(cli, "add_train_arguments"):
            cli.add_train_arguments(parser.add_argument_group(cli.TRAIN_GROUP, cli.TRAIN_HELP))


def _register_eval(subparsers: argparse._SubParsersAction) -> None:
    from lucid.data import TTA_CHOICES

    parser = subparsers.add_parser(
        "eval",
        help="score a checkpoint or exported file: top-1 and confusion matrix, mIoU, or mAP (its task's metrics)",
        description=(
            "Evaluate a checkpoint of any task (read from the checkpoint): a classifier's top-1/top-5, "
            "per-class accuracy and confusion matrix; a segmentation model's mIoU and per-class IoU; a "
            "detector's mAP and per-class AP. Default data: what it was trained on (its validation split; "
            "the digits validation split for digits models). An exported .onnx, .xml or .pte file is scored "
            "in its runtime: its task's score on the held-out images at the file's input size."
        ),
    )
    parser.add_argument(
        "checkpoint",
        metavar="CKPT",
        help="lucid checkpoint file, a registered model name with --weights, or an exported .onnx/.xml/.pte",
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="data folder (or an archive of one, as lucid train reads it): ROOT/val/ (or ROOT/test/) of a "
        "train/ + val/ tree, or the validation split a "
        "layout names; the training folder of a one-folder run (its held-out split is re-derived); any "
        "folder of class folders (all images); or 'digits'",
    )
    parser.add_argument("--weights", metavar="W", help="weights for a model name (e.g. DEFAULT)")
    parser.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="images a step (default: 128 for a classifier, 8 for a segmenter, 16 for a detector); a checkpoint's",
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="data-loading processes (default 0: in this one); a checkpoint's"
    )
    parser.add_argument("--device", type=_device, default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument(
        "--confusion",
        metavar="PNG",
        help="confusion matrix image (default: <CKPT>.confusion.png beside the checkpoint)",
    )
    parser.add_argument(
        "--tta",
        choices=TTA_CHOICES,
        help="test-time augmentation: flip (each image and its mirror averaged; two passes) or none "
        "(default: what the checkpoint's training run chose, under which its best epoch was scored)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    exported = parser.add_argument_group(
        "an exported file", "CKPT may be an .onnx, .xml or .pte file: its task's score in its runtime"
    )
    exported.add_argument(
        "--backend",
        choices=("auto", "onnxruntime", "openvino", "executorch"),
        default=None,
        help="runtime; auto = OpenVINO on x86 if installed, else ONNX Runtime",
    )
    exported.add_argument("--threads", type=int, default=None, metavar="N", help="runtime threads")
    exported.add_argument(
        "--num-eval", type=int, default=None, metavar="N", help="score N images (default: all, held in memory)"
    )
    parser.set_defaults(func=run_eval)


def _register_predict(subparsers: argparse._SubParsersAction) -> None:
    from lucid.data import TTA_CHOICES

    parser = subparsers.add_parser(
        "predict",
        help="predict image files: top-k labels, class masks, or boxes (its task's outputs)",
        description=(
            "Predict image files with a checkpoint (its class names), a model name with --weights, "
            "or an exported file (.onnx, .xml or .pte) given first (--onnx FILE is an alias): a classifier "
            "prints each image's top-k labels with probabilities; a segmentation model writes each image's "
            "class mask and overlay; a detection model draws its boxes and writes detections.json."
        ),
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="CKPT IMAGE",
        help="the checkpoint, model name or exported file (.onnx/.xml/.pte) then the images or folders of images "
        "(with --onnx: images or folders only); an image's https:// address is downloaded once, an archive "
        "(.zip, .tar.gz ...) or its address read as the folder it holds",
    )
    parser.add_argument("--weights", metavar="W", help="weights for a model name (e.g. DEFAULT)")
    parser.add_argument(
        "--topk", type=int, default=None, metavar="K", help="classification: labels per image (default 5)"
    )
    parser.add_argument(
        "--tta",
        choices=TTA_CHOICES,
        help="test-time augmentation: flip (each image and its mirror averaged; two passes) or none "
        "(default: what the checkpoint's training run chose, under which its best epoch was scored)",
    )
    _add_exported_file_arguments(parser)
    parser.add_argument("--device", type=_device, default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="segmentation: folder for each image's mask PNG and overlay; detection: its boxes drawn and "
        "detections.json; classification: each image with its top labels (default: a new runs/predict-STAMP)",
    )
    parser.add_argument(
        "--score-threshold",
        type=float,
        default=None,
        metavar="S",
        help="detection: keep and draw boxes scoring at least S (default 0.3)",
    )
    parser.set_defaults(func=run_predict, intermixed="inputs")  # images may follow the options


def _add_exported_file_arguments(parser: argparse.ArgumentParser) -> None:
    """``lucid predict``'s flags for an exported file: the file, its runtime, threads and precision."""
    parser.add_argument(
        "--onnx",
        metavar="FILE",
        help="an exported model (.onnx, .xml or .pte) run through lucid.deploy.Predictor (the same as giving it first)",
    )
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="--onnx: runtime threads")
    parser.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "onnxruntime", "openvino", "executorch"),
        help="--onnx FILE (.onnx, .xml or .pte): runtime; auto = OpenVINO on x86 if installed, else ONNX Runtime",
    )
    parser.add_argument(
        "--precision",
        default="f32",
        choices=("f32", "bf16"),
        help="--onnx FILE on OpenVINO: f32 (default, like the file) or bf16 (faster on CPUs with "
        "AVX512_BF16/AMX; logits move slightly)",
    )


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def config_from_args(args: argparse.Namespace, task: str) -> Any:
    """The config of ``task`` that the given flags describe: each flag is a field of the task's
    config (flags not given keep its defaults); a flag that only another task's config has is
    refused by name."""
    from lucid.tasks import get_task, task_names

    config_class = get_task(task).config_class
    mine = set(config_class.field_names())
    others: dict[str, str] = {}
    for name in task_names():
        if name != task:
            for field in get_task(name).config_class.field_names():
                others.setdefault(field, name)
    wrong = sorted(_flag(f) for f in vars(args) if f in others and f not in mine)
    if wrong:
        owners = sorted({others[f.lstrip("-").replace("-", "_")] for f in wrong})
        raise ValueError(f"{', '.join(wrong)}: {' and '.join(owners)} flag(s), not used by --task {task}")
    return config_class(**{name: getattr(args, name) for name in mine if hasattr(args, name)})


def chosen_task(args: argparse.Namespace) -> str:
    """``--task``, else the task of ``--model``, of the run ``--resume`` names, or of the data's layout."""
    from pathlib import Path

    from lucid.models.registry import model_task
    from lucid.tasks import DEFAULT_TASK
    from lucid.train.run_folder import recorded_task

    if getattr(args, "task", None):
        return str(args.task)
    if getattr(args, "resume", None):
        found = recorded_task(Path(args.resume).expanduser())
        if found:
            return found
    if getattr(args, "model", None) and model_task(args.model):
        return str(model_task(args.model))
    if getattr(args, "data", None):
        from lucid.tasks import task_of_data

        claimed = task_of_data(args.data)
        if claimed is not None:
            print(f"lucid train: {claimed[1]}")
            return claimed[0]
    return DEFAULT_TASK


def run_train(args: argparse.Namespace) -> int:
    from lucid.cli import STARTED
    from lucid.train import TrainingDiverged, train

    _unpack_data(args, "train")
    config = config_from_args(args, chosen_task(args))
    # SIGTERM (a scheduler, `timeout`, torchrun stopping a group) ends the run like Ctrl-C: the
    # lock is released and summary.json says "interrupted" instead of staying "running".
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        train(config, clock_start=STARTED)  # a --time-budget covers the whole command, from lucid's start
    except TrainingDiverged as exc:
        print(f"lucid train: stopped: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _unpack_data(args: argparse.Namespace, command: str) -> None:
    """``--data`` given as an archive (``set.zip``, ``set.tar.gz``): unpacked once into lucid's cache
    (`lucid.data.data_folder`), and the folder it holds read from then on; said in one line (on
    stderr under ``--json``, whose output stays one JSON document)."""
    from lucid.data import data_folder

    if getattr(args, "data", None) is None:
        return
    args.data, note = data_folder(args.data)
    if note:
        print(f"lucid {command}: {note}", file=sys.stderr if getattr(args, "json", False) else sys.stdout)


def _terminated(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _task_cli(source: str | None) -> tuple[str, Any]:
    """The task of ``source`` (a checkpoint, model name or exported file; any other source is
    classification's, whose own reader then reports it) and its CLI module."""
    import importlib

    from lucid.models.resolve import source_task
    from lucid.tasks import DEFAULT_TASK, get_task

    task = get_task(source_task(source) or DEFAULT_TASK)
    return task.name, importlib.import_module(task.cli_module)


def run_eval(args: argparse.Namespace) -> int:
    """``lucid eval``: the task of the checkpoint evaluates it (`Task.cli_module`'s ``run_eval``);
    an exported file is scored in its runtime (`lucid.deploy.score.evaluate_file`)."""
    from lucid.models.resolve import EXPORT_SUFFIXES

    _unpack_data(args, "eval")
    if Path(args.checkpoint).suffix.lower() in EXPORT_SUFFIXES:
        return _eval_export(args)
    for flag, value in (("--threads", args.threads), ("--backend", args.backend), ("--num-eval", args.num_eval)):
        if value is not None:
            raise ValueError(f"{flag} applies to an exported file (.onnx, .xml or .pte); {args.checkpoint} is not one")
    if args.batch_size is not None and args.batch_size < 1:
        raise ValueError(f"--batch-size must be positive, got {args.batch_size}")
    if args.workers is not None and args.workers < 0:
        raise ValueError(f"--workers must be zero or more, got {args.workers}")
    args.device = _concrete_device(args.device)
    args.workers = 0 if args.workers is None else args.workers
    task, cli = _task_cli(args.checkpoint)
    _refuse_flags(args, cli.UNUSED_EVAL_FLAGS, f"evaluating a {task} model")
    return int(cli.run_eval(args))


def _eval_export(args: argparse.Namespace) -> int:
    """``lucid eval FILE.onnx|.xml|.pte``: the file's task score on labelled images, in its runtime."""
    import json

    from lucid.deploy.score import evaluate_file

    given = (
        ("--weights", args.weights),
        ("--confusion", args.confusion),
        ("--tta", args.tta),
        ("--device", None if args.device == "auto" else args.device),
        ("--batch-size", args.batch_size),
        ("--workers", args.workers),
    )
    for flag, value in given:
        if value is not None:
            raise ValueError(
                f"{flag} applies to a checkpoint; an exported file is scored as it is, on the CPU, at the batch "
                "its runtime takes (--threads sets its threads)"
            )
    result = evaluate_file(
        args.checkpoint, args.data, backend=args.backend or "auto", threads=args.threads, num_eval=args.num_eval
    )
    print(json.dumps(result.to_dict(), indent=2) if args.json else "\n".join(result.summary()))
    return 0


def _export_first(args: argparse.Namespace) -> None:
    """``lucid predict EXPORT IMAGE...``: an exported file (``.onnx``, ``.xml``, ``.pte``) given
    first is what ``--onnx EXPORT`` names (recognised by its suffix; ``--onnx`` stays an alias). One
    whose suffix was lost is recognised by its content and named, with the suffix it needs."""
    from lucid.deploy.runtime import sniff_export
    from lucid.models.resolve import EXPORT_SUFFIXES

    if args.onnx or not args.inputs:
        return
    first = Path(args.inputs[0]).expanduser()
    if first.suffix.lower() in EXPORT_SUFFIXES and first.is_file():
        args.onnx, args.inputs = str(first), args.inputs[1:]
        if not args.inputs:
            raise ValueError(f"lucid predict {first} needs at least one image after the model file")
    elif first.is_file() and (suffix := sniff_export(first)) is not None:
        raise ValueError(
            f"{first} is an exported model by its content ({suffix}) without its suffix; the runtimes choose by "
            f"suffix: rename it {first.with_suffix(suffix).name}"
        )


def run_predict(args: argparse.Namespace) -> int:
    """``lucid predict``: the task of the model (a checkpoint, a model name or an exported file)
    predicts, after the flags it does not use are refused by name."""
    from lucid.data import local_inputs

    args.device = _concrete_device(args.device)
    _export_first(args)
    first = 0 if args.onnx else 1  # the images follow the model, or all are images with --onnx
    args.inputs[first:] = local_inputs(args.inputs[first:], lambda note: print(note, file=sys.stderr, flush=True))
    if args.onnx and args.tta == "flip":
        raise ValueError(
            "--tta flip: an exported model runs the network once per image; predict with the checkpoint for "
            "test-time flip"
        )
    task, cli = _task_cli(args.onnx or (args.inputs[0] if args.inputs else None))
    _refuse_flags(args, cli.UNUSED_PREDICT_FLAGS, f"predicting with a {task} model")
    return int(cli.run_predict(args))


def _refuse_flags(args: argparse.Namespace, names: Sequence[str], when: str) -> None:
    """Flags given that a task's models do not use ``when``, refused by name (never silently ignored)."""
    given = [_flag(name) for name in names if getattr(args, name, None) is not None]
    if given:
        raise ValueError(f"{', '.join(given)}: not used when {when}")
