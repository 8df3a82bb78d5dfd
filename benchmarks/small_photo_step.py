"""Where a 32 px training step's time goes on the CPU, and what the known alternatives cost.

``lucid train`` on a large set of 32 px photos trains `mobilenet_v3_small_lowres` in batches of
256 (docs/training.md, *Large sets of small photos*). Its epochs per minute are set by this
step, so this benchmark times the model-only step (SGD with Nesterov momentum, label-smoothed
cross-entropy, channels-last, deterministic kernels, random data already in memory) and the
alternatives that would give more epochs in the same minutes:

- ``frozen-dw``: the same step with the depthwise convolutions' weights frozen. It is not a
  recipe; it bounds what a faster depthwise weight gradient could give (oneDNN computes that
  gradient on 2x2 and 4x4 maps at a small fraction of its forward speed);
- ``full-kernels``: the step with plain ``nn.Conv2d`` everywhere, as before ``lucid train``
  computed its stride-1 convolutions from the kernel taps that reach the map
  (`lucid.models.ReachableTapsConv2d`: on a 2x2 map a 5x5 kernel's outer ring only meets the
  zero padding, and oneDNN computes the 3x3 weight gradient faster);
- ``compile``: ``torch.compile`` of the model (inductor), with its first-step time (a cold
  compile in round 0: the inductor cache is a fresh temporary folder, removed at the end);
- ``2 procs x 1 thread``: two single-thread processes at half the batch side by side, as
  ``torchrun --nproc-per-node 2`` would run them, without the gradient all-reduce (an upper
  bound for that layout);
- other networks at the same batch: the last stage at output stride 8 (``dilated``), the first
  two blocks at stride 1 (``os8``), width 1.5, and MobileNet-v3 Large at output stride 16.

A profile of the baseline step lists the operators that take most of it, and each depthwise
convolution's forward, input-gradient and weight-gradient times are printed. Rounds alternate the
variants so that drift of the machine's speed falls on all of them; the load is printed before
and after. Run it on idle cores.

    python benchmarks/small_photo_step.py [--batch 256] [--rounds 3] [--steps 16]
        [--variants baseline full-kernels frozen-dw compile procs dilated os8 width1.5 large]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lucid.models import LARGE_BOTTLENECKS, MobileNet_V3, create_model, preset_config, use_reachable_taps
from lucid.models.lowres import LOWRES_SMALL_BOTTLENECKS

SIZE = 32
CLASSES = 10
VARIANTS = ("baseline", "full-kernels", "frozen-dw", "compile", "procs", "dilated", "os8", "width1.5", "large")


def _stride_one(table: tuple, index: int) -> tuple:
    """``table`` with block ``index``'s stride (field 5 of a bottleneck spec) set to 1."""
    rows = list(table)
    rows[index] = rows[index][:5] + (1,) + rows[index][6:]
    return tuple(rows)


def _network(variant: str) -> nn.Module:
    """The network a variant trains, as built (the baseline's for the step-level variants)."""
    if variant == "dilated":
        return create_model("mobilenet_v3_small_lowres", num_classes=CLASSES, dilated=True)
    if variant == "os8":
        config = preset_config("mobilenet_v3_small", num_classes=CLASSES)
        return MobileNet_V3(config.replace(bottleneck_cfg=_stride_one(LOWRES_SMALL_BOTTLENECKS, 1)))
    if variant == "width1.5":
        return create_model("mobilenet_v3_small_lowres", num_classes=CLASSES, width_mult=1.5)
    if variant == "large":
        config = preset_config("mobilenet_v3_large", num_classes=CLASSES)
        return MobileNet_V3(config.replace(bottleneck_cfg=_stride_one(LARGE_BOTTLENECKS, 1)))
    return create_model("mobilenet_v3_small_lowres", num_classes=CLASSES)


def build(variant: str) -> nn.Module:
    """The network a variant trains, with the convolutions ``lucid train`` uses (plain
    ``nn.Conv2d`` for ``full-kernels``)."""
    model = _network(variant)
    if variant != "full-kernels":
        use_reachable_taps(model)
    return model


def make_step(variant: str, batch: int) -> Callable[[], None]:
    """One training step of ``variant`` on a fixed random batch."""
    model = build(variant).train().to(memory_format=torch.channels_last)
    if variant == "frozen-dw":
        for module in model.modules():
            if isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels:
                module.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-5)
    forward = torch.compile(model) if variant == "compile" else model
    images = torch.randn(batch, 3, SIZE, SIZE).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, CLASSES, (batch,))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)

    def step() -> None:
        loss = loss_fn(forward(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def images_per_second(variant: str, batch: int, steps: int) -> tuple[float, float]:
    """(images/s over ``steps`` steps after warm-up, seconds the first step took)."""
    step = make_step(variant, batch)
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start), first


def two_processes(batch: int, steps: int) -> float:
    """Images/s of two single-thread processes at ``batch // 2`` each, run at the same time."""
    command = [sys.executable, __file__, "--child", "--batch", str(batch // 2), "--steps", str(steps)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    children = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    return sum(float(child.communicate()[0].split()[-1]) for child in children)


def profile(batch: int) -> None:
    """The operators that take most of the baseline step (self time, 3 steps)."""
    step = make_step("baseline", batch)
    for _ in range(3):
        step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            step()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    print("baseline step, share of self CPU time:")
    for event in events[:8]:
        print(f"  {event.key:<36} {100 * event.self_cpu_time_total / total:5.1f} %")


def _timed(call: Callable[[], object], repeats: int) -> float:
    """Milliseconds per call of ``call`` after one warm-up call."""
    call()
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return 1e3 * (time.perf_counter() - start) / repeats


def _depthwise_row(conv: nn.Conv2d, shape: torch.Size, batch: int, repeats: int) -> str:
    """One depthwise convolution at ``batch`` x ``shape[1:]``: its three times, as a table row."""
    x = torch.randn(batch, *shape[1:]).contiguous(memory_format=torch.channels_last)
    w = conv.weight.detach()
    if isinstance(conv.padding, str):
        raise ValueError(f"expected a numeric padding, got {conv.padding!r}")
    stride, padding, dilation = list(conv.stride), list(conv.padding), list(conv.dilation)
    grad = torch.randn_like(F.conv2d(x, w, None, stride, padding, dilation, conv.groups))

    def backward(mask: list[bool]) -> object:
        return torch.ops.aten.convolution_backward(
            grad, x, w, None, stride, padding, dilation, False, [0, 0], conv.groups, mask
        )

    forward = _timed(lambda: F.conv2d(x, w, None, stride, padding, dilation, conv.groups), repeats)
    d_input = _timed(lambda: backward([True, False, False]), repeats)
    d_weight = _timed(lambda: backward([False, True, False]), repeats)
    kernel = conv.kernel_size
    size = f"{shape[1]} ch {shape[2]}x{shape[3]}, {kernel[0]}x{kernel[1]} s{stride[0]}"
    return f"  {size:<26} {forward:6.2f} / {d_input:6.2f} / {d_weight:6.2f}"


def depthwise_times(batch: int, repeats: int = 10) -> None:
    """Forward, input-gradient and weight-gradient times of each depthwise convolution of the
    baseline network at its input shape, at its full kernel (each timed alone, ``repeats`` calls)."""
    model = build("full-kernels").train().to(memory_format=torch.channels_last)
    shapes: dict[nn.Conv2d, torch.Size] = {}

    def record(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        if isinstance(module, nn.Conv2d):
            shapes.setdefault(module, args[0].shape)

    hooks = [
        module.register_forward_hook(record)
        for module in model.modules()
        if isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels
    ]
    with torch.no_grad():
        model(torch.randn(2, 3, SIZE, SIZE))
    for hook in hooks:
        hook.remove()
    print("depthwise convolutions, ms per call (forward / input gradient / weight gradient):")
    for conv, shape in shapes.items():
        print(_depthwise_row(conv, shape, batch, repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]  # as lucid train
    if args.child:
        print(images_per_second("baseline", args.batch, args.steps)[0])
        return
    with tempfile.TemporaryDirectory(prefix="lucid-inductor-") as cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache  # a cold compile, removed afterwards
        measure(args.batch, args.rounds, args.steps, args.variants)


def measure(batch: int, rounds: int, steps: int, variants: list[str]) -> None:
    """The profile, the depthwise table, then ``rounds`` alternating rounds of ``variants``."""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {batch}, {SIZE} px")
    print(f"load before: {os.getloadavg()[0]:.2f}")
    profile(batch)
    depthwise_times(batch)
    for round_ in range(rounds):
        for variant in variants:
            if variant == "procs":
                rate = two_processes(batch, steps)
                print(f"round {round_}  2 procs x 1 thread  {rate:7.0f} img/s", flush=True)
                continue
            rate, first = images_per_second(variant, batch, steps)
            note = f"  (first step {first:.1f} s)" if variant == "compile" else ""
            print(f"round {round_}  {variant:<18} {rate:7.0f} img/s{note}", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
