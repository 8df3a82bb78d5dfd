"""Child processes of `lucid.deploy.bench`.

``python -m lucid.deploy._probe memory '{"contender": ..., "mode": "infer"|"train", ...}'`` runs
one contender in this fresh process and prints one JSON line: the process's peak resident set
size after building and running it, and the increase over the peak right after the imports
(a process's peak only grows, so each contender needs its own process).

``python -m lucid.deploy._probe bench '{...bench arguments...}' RESULT.json`` runs the whole
benchmark here: the parent starts it with ``OMP_WAIT_POLICY=PASSIVE``, which OpenMP reads only
when torch loads.
"""

from __future__ import annotations

import json
import resource
import sys
from typing import Any

import numpy as np
import onnxruntime  # noqa: F401  (imported before the baseline, like torch)
import torch
import torchvision  # noqa: F401

RUNS = 3


def _peak_mib() -> float:
    """The process's peak RSS: /proc's VmHWM (getrusage's ru_maxrss survives exec on Linux, so a
    child would report its parent's peak), else ru_maxrss (KiB on Linux, bytes on macOS)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def _torch_model(spec: dict[str, Any]) -> torch.nn.Module:
    from lucid.deploy.bench import torchvision_model
    from lucid.models import create_model

    if spec["contender"] == "torchvision eager" or spec["contender"] == "torchvision":
        return torchvision_model(spec["model"], 0)
    model = create_model(spec["model"]).eval()
    if "channels-last" in spec["contender"]:
        model = model.to(memory_format=torch.channels_last)
    return model


def _infer(spec: dict[str, Any]) -> None:
    from lucid.deploy.predictor import make_session

    x = torch.randn(spec["batch"], 3, spec["image_size"], spec["image_size"])
    contender, files = spec["contender"], spec["files"]
    if contender.startswith("OpenVINO"):
        from lucid.deploy.runtime import OpenVINOModel

        compiled = OpenVINOModel(
            files["openvino_int8" if contender.endswith("int8") else "openvino"],
            spec["threads"],
            precision="bf16" if contender.endswith("bf16") else "f32",
        )
        for _ in range(RUNS):
            compiled.run(x.numpy())
        return
    if contender.startswith("ONNX Runtime"):
        session = make_session(files["int8" if contender.endswith("int8") else "onnx"], spec["threads"])
        for _ in range(RUNS):
            session.run(None, {"input": x.numpy()})
        return
    if contender == "TorchScript frozen":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            model = torch.jit.load(files["torchscript"], map_location="cpu")
    else:
        model = _torch_model(spec)
    if "channels-last" in contender:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        for _ in range(RUNS):
            model(x)


def _train(spec: dict[str, Any]) -> None:
    model = _torch_model(spec).train()
    x = torch.randn(spec["batch"], 3, spec["image_size"], spec["image_size"])
    y = torch.randint(0, 1000, (spec["batch"],))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    for _ in range(RUNS):
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()


def memory(spec: dict[str, Any]) -> dict[str, float]:
    torch.set_num_threads(int(spec["threads"]))
    np.zeros(1)
    baseline = _peak_mib()
    (_train if spec["mode"] == "train" else _infer)(spec)
    peak = _peak_mib()
    return {"peak_mib": peak, "increase_mib": peak - baseline}


def bench(arguments: dict[str, Any], result_file: str) -> None:
    from pathlib import Path

    from lucid.deploy.bench import bench as run_bench

    log = (lambda line: print(line, file=sys.stderr, flush=True)) if arguments.pop("log", False) else None
    result = run_bench(**arguments, log=log)
    Path(result_file).write_text(json.dumps(result.to_dict()))


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "memory":
        print(json.dumps(memory(json.loads(argv[1]))))
        return 0
    if len(argv) == 3 and argv[0] == "bench":
        bench(json.loads(argv[1]), argv[2])
        return 0
    print("usage: python -m lucid.deploy._probe memory SPEC | bench ARGS RESULT.json", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
