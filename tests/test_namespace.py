"""lucid is PyTorch: the namespace re-exports torch's objects, lucid.nn adds lucid's spellings."""

from __future__ import annotations

import json

import torch

import lucid
import lucid.nn as lnn
import lucid.nn.functional as LF
from lucid.cli import main


def test_tensor_namespace_is_torch():
    assert lucid.Tensor is torch.Tensor
    for name in ["zeros", "ones", "randn", "rand", "tensor", "arange", "no_grad", "manual_seed"]:
        assert getattr(lucid, name) is getattr(torch, name), name
    for name in ["float32", "float16", "bfloat16", "float64", "int64", "int32", "uint8", "bool"]:
        assert getattr(lucid, name) is getattr(torch, name), name
    assert isinstance(lucid.zeros(2, 3), torch.Tensor)


def test_nn_is_torch_nn_plus_lucid_names():
    assert lnn.Module is torch.nn.Module and lnn.Conv2d is torch.nn.Conv2d and lnn.init is torch.nn.init
    assert issubclass(lnn.HardSwish, torch.nn.Hardswish) and issubclass(lnn.HardSigmoid, torch.nn.Hardsigmoid)
    assert repr(lnn.HardSwish()) == "HardSwish()" and repr(lnn.HardSigmoid()) == "HardSigmoid()"
    x = torch.linspace(-5, 5, 101)
    torch.testing.assert_close(lnn.HardSwish()(x), x * torch.clamp(x + 3, 0, 6) / 6)
    torch.testing.assert_close(lnn.HardSigmoid()(x), torch.clamp(x + 3, 0, 6) / 6)


def test_functional_is_torch_functional_plus_lucid_names():
    assert LF.relu is torch.nn.functional.relu and LF.conv2d is torch.nn.functional.conv2d
    assert LF.hard_swish is torch.nn.functional.hardswish
    assert LF.hard_sigmoid is torch.nn.functional.hardsigmoid


def test_cli_help_and_models(capsys):
    assert main([]) == 0
    assert "models" in capsys.readouterr().out
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "mobilenet_v3_small" in out and "2,542,856" in out and "5,483,032" in out


def test_cli_models_says_a_detector_is_counted_at_its_own_input(capsys):
    """SSDLite resizes every input to 320x320 itself, so its MACs are those of 320x320 whatever
    --image-size says; the table and --json name that size (torchvision publishes 0.58 GFLOPS)."""
    assert main(["models", "ssdlite320_mobilenet_v3_large", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["image_size"] == 320 and 580e6 < row["macs"] < 590e6
    assert main(["models", "*small*"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["ssdlite320_mobilenet_v3_small"].endswith("(its own input, 320x320)")
    assert "own input" not in lines["mobilenet_v3_small"] and lines["model"].split()[-1] == "MACs@224"
