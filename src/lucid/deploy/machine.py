"""The machine a benchmark ran on: CPU model, cores, vector extensions, fp32 peak, versions and load.

Separate from the harness (`lucid.deploy.bench`) and the report (`lucid.deploy.report`) so
that any benchmark can describe its machine the same way.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["cpuinfo", "cpu_peak", "distribution_version", "has_bf16", "load_average", "machine_info", "model_flops"]


def cpuinfo() -> dict[str, str]:
    """The first processor's entries of /proc/cpuinfo (Linux); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    info: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


def machine_info(threads: int) -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, vector extensions, versions, load, date."""
    import onnxruntime
    import torchvision

    from lucid import __version__

    cpu = cpuinfo()
    flags = set(cpu.get("flags", "").split())
    simd = [
        f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8") if f in flags
    ]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        **cpu_peak(cpu, cores or 1),
        "vnni": bool(flags & {"avx512_vnni", "avx_vnni"}),
        "amx": bool(flags & {"amx_tile", "amx_int8"}),
        "cpu": cpu.get("model name") or platform.processor() or platform.machine(),
        "cpu_family_model": f"family {cpu.get('cpu family', '?')}, model {cpu.get('model', '?')}" if cpu else "",
        "cores": cores,
        "simd": ", ".join(simd) or "unknown",
        "threads": threads,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "onnxruntime": onnxruntime.__version__,
        "openvino": distribution_version("openvino"),
        "executorch": distribution_version("executorch"),
        "lucid": __version__,
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": load_average(),
    }


def cpu_peak(cpu: dict[str, str], cores: int) -> dict[str, Any]:
    """This CPU's fp32 peak: cores x SIMD lanes x FMA units x 2 flops x clock, from /proc/cpuinfo.

    Lanes and FMA units per core are not in /proc/cpuinfo; they follow from the vendor, family
    and flags: AMD Zen 2-4 (family 23/25) have two 256-bit FMA pipes (Zen 4 runs AVX-512 on
    them in two halves), Zen 5 (family 26) two 512-bit ones; Intel cores with AVX-512 two
    512-bit ones (some low-end Xeons have one: the peak is then an upper bound), with AVX2 two
    256-bit ones. The clock is ``cpu MHz`` (under a hypervisor usually the nominal clock; boost
    clocks make the real peak higher).
    """
    flags = set(cpu.get("flags", "").split())
    family = int(cpu.get("cpu family", "0") or 0)
    amd = cpu.get("vendor_id", "") == "AuthenticAMD"
    if amd and family in (23, 25):
        lanes, units = 8, 2
    elif amd and family >= 26 and "avx512f" in flags:
        lanes, units = 16, 2
    elif "avx512f" in flags:
        lanes, units = 16, 2
    elif "avx2" in flags and "fma" in flags:
        lanes, units = 8, 2
    else:
        lanes, units = 4, 1
    try:
        ghz = float(cpu.get("cpu MHz", "0")) / 1e3
    except ValueError:
        ghz = 0.0
    peak = cores * lanes * units * 2 * ghz
    return {"fp32_lanes": lanes, "fma_units": units, "clock_ghz": round(ghz, 3), "peak_gflops": round(peak, 1)}


def model_flops(model: nn.Module, image_size: int) -> float:
    """Floating-point operations of one image through ``model`` (2 per multiply-add), counted by
    ``torch.utils.flop_counter`` (convolutions and matrix products; activations are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(torch.zeros(1, 3, image_size, image_size))
    return float(counter.get_total_flops())


def has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512_BF16 or AMX-BF16)."""
    return bool(set(cpuinfo().get("flags", "").split()) & {"avx512_bf16", "amx_bf16"})


def distribution_version(distribution: str) -> str:
    """The installed version of a Python distribution, or "not installed"."""
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    """The load average over 1, 5 and 15 minutes, as text ("n/a" where the OS has none)."""
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"
