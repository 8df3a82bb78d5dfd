"""lucid.visual: the seed's flowchart, the per-layer summary, and the `lucid summary/mermaid` CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

import lucid
import lucid.models
from lucid.cli import main
from lucid.visual import TraceError, build_mermaid_chart, layer_kind, summary

SEED = Path(__file__).parents[2] / "shared/seed/MobileNet_V3.txt"
EXPECTED_CHART = Path(__file__).parent / "data/mobilenet_v3_small.mmd"
SHAPE = (1, 3, 224, 224)
SMALL_SHAPE = (1, 3, 64, 64)  # where the exact seed shapes do not matter: a cheaper forward
EDGE = re.compile(r"^(\S+) (-->|-\.->) (\S+);$")
NODE = re.compile(r'^(\w+)(\["|\(\[")')
SUBGRAPH = re.compile(r'^subgraph sg_(\w+)\["')
SHAPE_SPAN = re.compile(r"<br/><span style='font-size:11px;[^']*'>[^<]*</span>")


def seed_chart_lines(text: str) -> list[str]:
    """The seed's flowchart: from the ``%%{init`` line through the last edge line after it."""
    lines = [line.strip() for line in text.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("%%{init"))
    chart: list[str] = []
    in_edges = False
    for line in lines[start:]:
        if EDGE.match(line):
            in_edges = True
        elif in_edges:
            break
        chart.append(line)
    return chart


def stripped(chart: str) -> list[str]:
    return [line.strip() for line in chart.splitlines()]


def check_well_formed(chart: str) -> tuple[set[str], list[tuple[str, str, str]]]:
    """Every edge joins declared nodes, ids are unique, subgraphs close: returns (nodes, edges)."""
    nodes: list[str] = []
    edges = []
    depth = 0
    for line in stripped(chart):
        if SUBGRAPH.match(line):
            depth += 1
        elif line == "end":
            depth -= 1
            assert depth >= 0
        elif match := EDGE.match(line):
            edges.append(match.groups())
        elif match := NODE.match(line):
            nodes.append(match.group(1))
    assert depth == 0
    assert len(nodes) == len(set(nodes)), "node ids must be unique"
    for src, _, dst in edges:
        assert src in nodes and dst in nodes, (src, dst)
    assert [(s, d) for s, _, d in edges] == sorted((s, d) for s, _, d in edges)
    return set(nodes), edges


@pytest.fixture(scope="module")
def small() -> nn.Module:
    return lucid.models.mobilenet_v3_small()


@pytest.fixture(scope="module")
def default_chart(small: nn.Module) -> str:
    return build_mermaid_chart(small, input_shape=SHAPE)


@pytest.fixture(scope="module")
def small_summary(small: nn.Module):
    return summary(small, SHAPE)


@pytest.fixture(scope="module")
def chart64(small: nn.Module) -> str:
    return build_mermaid_chart(small, input_shape=SMALL_SHAPE)


# -- the seed's flowchart ------------------------------------------------------------------


def test_seed_chart_reproduced_line_for_line(default_chart: str) -> None:
    expected = EXPECTED_CHART.read_text(encoding="utf-8").splitlines()
    assert stripped(default_chart) == expected
    check_well_formed(default_chart)


def test_seed_file_matches_the_kept_copy(default_chart: str) -> None:
    if not SEED.is_file():
        pytest.skip(f"seed documentation not found at {SEED} (the shared/ folder beside the repository)")
    expected = seed_chart_lines(SEED.read_text(encoding="utf-8"))
    assert expected[0].startswith("%%{init") and expected[-1] == "m9 --> m10;"
    assert expected == EXPECTED_CHART.read_text(encoding="utf-8").splitlines()
    assert stripped(default_chart) == expected


def test_group_shows_the_first_repeats_shapes(small: nn.Module, default_chart: str) -> None:
    """The collapsed bottlenecks are drawn by the first block's ``residual`` with its own shapes."""
    seen = {}
    hook = small.bottlenecks[0].residual.register_forward_hook(
        lambda m, i, o: seen.update(inp=tuple(i[0].shape), out=tuple(o.shape))
    )
    with torch.no_grad():
        small.eval()(torch.zeros(SHAPE))
    hook.remove()
    fmt = lambda s: "(" + ",".join(map(str, s)) + ")"  # noqa: E731
    label = (
        "m7[\"Sequential<br/><span style='font-size:11px;font-weight:400'>"
        f'{fmt(seen["inp"])} → {fmt(seen["out"])}</span>"];'
    )
    assert label in stripped(default_chart)
    assert f"_InvertedBottleneck_V3 x {len(small.bottlenecks)}" in default_chart


# -- the model is left as it was -------------------------------------------------------------


def snapshot(model: nn.Module) -> tuple[dict, dict, torch.Tensor]:
    state = {k: v.clone() for k, v in model.state_dict().items()}
    modes = {name: m.training for name, m in model.named_modules()}
    return state, modes, torch.get_rng_state()


def assert_untouched(model: nn.Module, before: tuple[dict, dict, torch.Tensor]) -> None:
    state, modes, rng = before
    after = model.state_dict()
    assert after.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(after[key], value), f"{key} changed"
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(p.grad is None for p in model.parameters())
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks


@pytest.mark.parametrize("draw", [build_mermaid_chart, summary], ids=["chart", "summary"])
def test_drawing_leaves_the_model_untouched(draw) -> None:
    model = lucid.models.mobilenet_v3_small(num_classes=10, dropout=0.5)
    model.train()
    model.fc2.eval()  # a mixed train/eval model must come back mixed
    model.bottlenecks[3].residual[1].eval()
    before = snapshot(model)
    draw(model, (2, 3, 64, 64))
    assert_untouched(model, before)
    # The same holds when the forward fails half-way.
    with pytest.raises(TraceError):
        draw(model, (2, 3, 8))
    assert_untouched(model, before)


# -- errors -----------------------------------------------------------------------------------


def test_needs_an_example_input(small: nn.Module) -> None:
    for call in (build_mermaid_chart, summary):
        with pytest.raises(ValueError, match="input_shape.*inputs"):
            call(small)
    with pytest.raises(ValueError, match="not both"):
        build_mermaid_chart(small, input_shape=SHAPE, inputs=torch.zeros(SHAPE))
    with pytest.raises(TypeError, match="input_shape"):
        build_mermaid_chart(small, input_shape="1,3,224,224")
    with pytest.raises(TypeError, match="ints"):
        build_mermaid_chart(small, input_shape=(1, 3, 224.0, 224))
    with pytest.raises(ValueError, match="positive"):
        build_mermaid_chart(small, input_shape=(1, 3, 0, 224))
    with pytest.raises(TypeError, match="tensor"):
        build_mermaid_chart(small, inputs=[[1.0, 2.0]])
    with pytest.raises(TypeError, match="nn.Module"):
        build_mermaid_chart("mobilenet_v3_small", input_shape=SHAPE)
    with pytest.raises(TypeError, match="nn.Module"):
        summary(lambda x: x, SHAPE)


def test_forward_failure_names_the_layer_and_its_input_shapes() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Sequential(nn.Linear(5, 2)))
    with pytest.raises(TraceError) as info:
        build_mermaid_chart(model, input_shape=(2, 4))
    message = str(info.value)
    assert "layer '2.0' (Linear)" in message and "(2,8)" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, RuntimeError)
    assert isinstance(info.value.__cause__, RuntimeError)  # torch's own error is kept
    with pytest.raises(TraceError, match=r"the model itself \(MobileNet_V3\).*\(1,1,32,32\)"):
        summary(lucid.models.mobilenet_v3_small(), (1, 1, 32, 32))


def test_bad_options(small: nn.Module) -> None:
    with pytest.raises(ValueError, match="depth"):
        build_mermaid_chart(small, SHAPE, depth=-1)
    with pytest.raises(ValueError, match="direction"):
        build_mermaid_chart(small, SHAPE, direction="up")
    with pytest.raises(ValueError, match="repeat_min"):
        build_mermaid_chart(small, SHAPE, repeat_min=1)
    with pytest.raises(TypeError):
        build_mermaid_chart(small, SHAPE, colour="red")


# -- options ----------------------------------------------------------------------------------


def test_depth_controls_how_much_is_drawn(small: nn.Module) -> None:
    node_counts = []
    for depth in (0, 1, 2, 3, 4, 8):
        chart = build_mermaid_chart(small, SMALL_SHAPE, depth=depth)
        nodes, _ = check_well_formed(chart)
        node_counts.append(len(nodes))
        if depth == 0:  # the model is one node between Input and Output
            assert "subgraph" not in chart and "input --> m0;" in chart and "m0 --> output;" in chart
        if depth == 1:
            assert "_InvertedBottleneck_V3" not in chart and "subgraph sg_m1" not in chart
    assert node_counts == sorted(node_counts) and node_counts[0] < node_counts[-1]
    # Fully drawn, every Conv2d of the model is a node of its own, apart from collapsed repeats.
    full = build_mermaid_chart(small, SMALL_SHAPE, depth=8, collapse_repeats=False)
    convs = sum(isinstance(m, nn.Conv2d) for m in small.modules())
    assert full.count('["Conv2d') == convs


def test_direction(small: nn.Module, chart64: str) -> None:
    chart = build_mermaid_chart(small, SMALL_SHAPE, direction="TB")
    assert "flowchart TB" in chart and "direction LR;" in chart and "direction TB;" not in chart
    swap = {"flowchart LR": "flowchart TB", "direction TB;": "direction LR;"}
    assert stripped(chart) == [swap.get(line, line) for line in stripped(chart64)]


def test_shapes_off_removes_exactly_the_shapes(small: nn.Module, chart64: str) -> None:
    chart = build_mermaid_chart(small, SMALL_SHAPE, show_shapes=False)
    assert "→" not in chart and "<span style='font-size:11px" not in chart
    assert stripped(chart) == [SHAPE_SPAN.sub("", line) for line in stripped(chart64)]


def test_collapse_off_draws_every_block(small: nn.Module) -> None:
    chart = build_mermaid_chart(small, SMALL_SHAPE, collapse_repeats=False)
    check_well_formed(chart)
    assert " x " not in chart and "-.->" not in chart and "_in(" not in chart
    assert chart.count('["_InvertedBottleneck_V3"]') == len(small.bottlenecks)
    # Shapes now follow each block: the last one ends at the head's input.
    assert "(1,96,2,2) → (1,96,2,2)" not in chart  # unchanged shapes are not written
    assert "(1,48,4,4) → (1,96,2,2)" in chart


def test_parameter_counts_in_labels(small: nn.Module) -> None:
    chart = build_mermaid_chart(small, SMALL_SHAPE, show_params=True)
    total = sum(p.numel() for p in small.parameters())
    blocks = sum(p.numel() for p in small.bottlenecks.parameters())
    first = sum(p.numel() for p in small.bottlenecks[0].residual.parameters())
    assert f"mobilenet_v3_small ({total:,} params)" in chart
    assert f"_InvertedBottleneck_V3 x 11 ({blocks:,} params)" in chart
    assert f'm7["Sequential ({first:,} params)<br/>' in chart
    assert 'm3["BatchNorm2d (32 params)"];' in chart and 'm4["HardSwish (0 params)"];' in chart


def test_io_and_title(small: nn.Module) -> None:
    chart = build_mermaid_chart(small, SMALL_SHAPE, include_io=False, title='My "net"')
    assert "input" not in chart and "output" not in chart
    assert "My &quot;net&quot;" in chart
    nodes, edges = check_well_formed(chart)
    assert all("input" not in e and "output" not in e for e in edges)


def test_layer_kinds_follow_torch_families() -> None:
    assert layer_kind(lucid.nn.HardSwish()) == "activation"
    assert layer_kind(nn.Conv1d(1, 1, 1)) == layer_kind(nn.ConvTranspose2d(1, 1, 1)) == "conv"
    assert layer_kind(nn.LayerNorm(4)) == layer_kind(nn.BatchNorm1d(4)) == "norm"
    assert layer_kind(nn.MultiheadAttention(4, 1)) == "attention"
    assert layer_kind(nn.Identity()) is None and layer_kind(nn.Sequential()) is None


# -- any nn.Module ----------------------------------------------------------------------------


def test_resnet18() -> None:
    model = torchvision.models.resnet18()
    chart = build_mermaid_chart(model, input_shape=(1, 3, 64, 64))
    nodes, edges = check_well_formed(chart)
    lines = stripped(chart)
    assert "<span style='font-size:20px;font-weight:700'>ResNet</span>" in chart
    assert any(line.startswith("subgraph sg_") and '["BasicBlock x 2"]' in line for line in lines)
    for name in ("layer2", "layer3", "layer4"):  # named containers are never merged
        assert any(line.endswith(f'["{name}"]') for line in lines)
    assert (
        "Conv2d<br/><span style='font-size:11px;color:#c53030;font-weight:400'>(1,3,64,64) → (1,64,32,32)</span>"
        in chart
    )
    assert "(1,512) → (1,1000)" in chart and "Output<br/>" in chart
    assert ("input", "-->", "m1") in edges


def test_custom_sequential_and_several_inputs() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    chart = build_mermaid_chart(model, input_shape=(4, 8))
    nodes, edges = check_well_formed(chart)
    assert nodes == {"m1", "m2", "m3", "input", "output"}  # m0, the model, is the subgraph
    assert 'm1(["Linear x 3"]);' in stripped(chart)  # shape unchanged: no shape text
    assert [(s, d) for s, _, d in edges] == sorted([("input", "m1"), ("m1", "m2"), ("m2", "m3"), ("m3", "output")])
    assert "style m1 fill:#ebf8ff,stroke:#2b6cb0" in chart and "style m2 fill:#faf5ff" in chart

    class Pair(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 3), nn.Linear(5, 3)

        def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.a(x), self.b(y)

    chart = build_mermaid_chart(Pair(), input_shape=[(2, 4), (2, 5)])
    check_well_formed(chart)
    assert "[(2,4), (2,5)]" in chart and "[(2,3), (2,3)]" in chart
    same = build_mermaid_chart(Pair(), inputs=(torch.zeros(2, 4), torch.zeros(2, 5)))
    assert same == chart


# -- summary ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "timm_name", "published"),
    [("mobilenet_v3_small", "mobilenetv3_small_100", 57e6), ("mobilenet_v3_large", "mobilenetv3_large_100", 217e6)],
)
def test_summary_macs_match_the_published_numbers(factory: str, timm_name: str, published: float) -> None:
    timm = pytest.importorskip("timm")
    # MACs depend on shapes only, so the models are built and traced on the meta device: no
    # memory, no arithmetic (the summary of a real model is checked below).
    with torch.device("meta"):
        model = lucid.models.create_model(factory)
        peer = getattr(torchvision.models, factory)()
        timm_peer = timm.create_model(timm_name)
    result = summary(model, SHAPE)
    assert abs(result.total_macs - published) / published < 0.02
    # torchvision's published metadata ("_ops", in GMACs) agrees too.
    published_gmacs = torchvision.models.get_model_weights(factory).IMAGENET1K_V1.meta["_ops"]
    assert abs(result.total_macs / 1e9 - published_gmacs) / published_gmacs < 0.02
    # torchvision's and timm's networks are the same one: the same counts.
    assert summary(peer, SHAPE).total_macs == result.total_macs
    assert summary(timm_peer, SHAPE).total_macs == result.total_macs
    assert result.total_params == sum(p.numel() for p in model.parameters())
    assert sum(r.params for r in result.rows) == result.total_params
    assert sum(r.macs for r in result.rows) == result.total_macs


def test_summary_rows_and_totals(small: nn.Module, small_summary) -> None:
    result = small_summary
    names = [r.name for r in result.rows]
    leaves = [n for n, m in small.named_modules() if next(m.children(), None) is None]
    assert sorted(names) == sorted(leaves) and len(names) == len(leaves)  # every layer, once
    # ... in the order it ran: the SE block's relu runs before fc2, though registered after it.
    assert names.index("bottlenecks.0.residual.1.relu") < names.index("bottlenecks.0.residual.1.fc2")
    first = result.rows[0]
    assert (first.name, first.layer_type, first.output_shape) == ("conv_first.0", "Conv2d", (1, 16, 112, 112))
    assert first.params == 16 * 3 * 9 and first.macs == 16 * 3 * 9 * 112 * 112
    depthwise = next(r for r in result.rows if r.name == "bottlenecks.0.residual.0.0")
    assert depthwise.macs == 16 * 9 * 56 * 56  # groups=channels: one 3x3 filter per channel
    assert result.input_shapes == ((1, 3, 224, 224),) and result.output_shapes == ((1, 1000),)
    assert result.trainable_params == result.total_params
    assert result.param_bytes == 4 * result.total_params
    assert json.loads(json.dumps(result.to_dict()))["total_macs"] == result.total_macs


def test_summary_table_is_aligned(small_summary) -> None:
    text = str(small_summary)
    lines = text.splitlines()
    rules = [i for i, line in enumerate(lines) if line and set(line) <= {"=", "-"}]
    table = lines[rules[0] + 1 : rules[-1]]
    assert table[0].split() == ["Layer", "Type", "Output", "shape", "Params", "MACs"]
    body = [line for line in table if not set(line) <= {"-"}]
    assert len({len(line) for line in body}) == 1  # right-aligned numbers: equal widths
    col = table[0].index("Type")
    assert all(line[col - 2 : col] == "  " for line in body)
    assert "Total params:         2,542,856" in text and "56.51 M" in text


def test_summary_counts_by_hand() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 3, padding=1, groups=8)
            self.fc = nn.Linear(8 * 10 * 10, 5)
            self.scale = nn.Parameter(torch.ones(5, 3))  # a parameter of the container itself
            self.unused = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.fc(torch.flatten(self.conv(x), 1))
            return y @ self.scale  # functional work is counted too

    net = Net()
    net.conv.bias.requires_grad_(False)
    result = summary(net, (2, 8, 10, 10))
    rows = {r.name: r for r in result.rows}
    assert rows["(model)"].params == 15 and rows["(model)"].macs == 2 * 5 * 3
    assert rows["conv"].macs == 2 * 8 * 9 * 100 and rows["fc"].macs == 2 * 800 * 5
    assert rows["unused"].calls == 0 and rows["unused"].output_shape is None and rows["unused"].params == 6
    assert [r.name for r in result.rows][-1] == "unused"
    assert result.total_params == sum(p.numel() for p in net.parameters())
    assert result.trainable_params == result.total_params - 8
    # Leaf outputs only: conv (2*8*10*10) and fc (2*5) floats.
    assert result.activation_bytes == 4 * (2 * 8 * 10 * 10 + 2 * 5)
    assert "-" in str(result).splitlines()[-8]  # the unused layer has no shape


# -- CLI --------------------------------------------------------------------------------------


def test_cli_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "mobilenet_v3_small", "--input-size", "3", "64", "64"]) == 0
    out = capsys.readouterr().out
    assert "Total params:         2,542,856" in out and "conv_first.0" in out
    assert main(["summary", "mobilenet_v3_small", "--input-size", "3", "32", "48", "--batch-size", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["input_shapes"] == [[2, 3, 32, 48]] and data["total_params"] == 2_542_856


def test_cli_mermaid_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], default_chart: str, chart64: str, small: nn.Module
) -> None:
    assert main(["mermaid", "mobilenet_v3_small"]) == 0
    assert capsys.readouterr().out == default_chart + "\n"
    out_md = str(tmp_path / "chart.md")
    assert main(["mermaid", "mobilenet_v3_small", "--input-size", "3", "64", "64", "--out", out_md]) == 0
    text = (tmp_path / "chart.md").read_text(encoding="utf-8")
    from lucid.outputs import CHART_MARK

    assert text == f"```mermaid\n{chart64}\n{CHART_MARK}\n```\n"
    assert (
        main(
            [
                "mermaid",
                "mobilenet_v3_small",
                "-o",
                str(tmp_path / "sub" / "chart.mmd"),
                "--depth",
                "1",
                "--direction",
                "TB",
                "--no-shapes",
                "--show-params",
                "--no-collapse",
                "--input-size",
                "3",
                "64",
                "64",
            ]
        )
        == 0
    )
    raw = (tmp_path / "sub" / "chart.mmd").read_text(encoding="utf-8")
    expected = build_mermaid_chart(
        small, SMALL_SHAPE, depth=1, direction="TB", show_shapes=False, show_params=True, collapse_repeats=False
    )
    assert raw == expected + f"\n{CHART_MARK}\n" and not raw.startswith("```")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["chart.md", "chart.mmd", "sub"]  # no temp files left


def test_cli_checkpoint_uses_its_in_channels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = lucid.models.mobilenet_v3_small(num_classes=10, in_channels=1)
    path = tmp_path / "gray.safetensors"
    lucid.save(model, path)
    assert main(["summary", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["input_shapes"] == [[1, 1, 224, 224]] and data["output_shapes"] == [[1, 10]]
    assert main(["mermaid", str(path)]) == 0
    assert "(1,1,224,224) → (1,16,112,112)" in capsys.readouterr().out


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "no_such_model"]) == 2
    assert "unknown model 'no_such_model'" in capsys.readouterr().err
    assert main(["mermaid", str(tmp_path / "missing.safetensors")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    assert main(["mermaid", "mobilenet_v3_small", "--depth", "-1"]) == 2
    assert "depth" in capsys.readouterr().err
    assert main(["summary", "mobilenet_v3_small", "--input-size", "1", "32", "32"]) == 2
    err = capsys.readouterr().err
    assert "failed in the model itself (MobileNet_V3)" in err and len(err.strip().splitlines()) == 1
    out = tmp_path / "keep.md"
    out.write_text("old")
    assert main(["mermaid", "mobilenet_v3_small", "--input-size", "2", "8", "--out", str(out)]) == 2
    assert out.read_text() == "old"


def test_cli_models_lists_macs(capsys: pytest.CaptureFixture[str], small: nn.Module) -> None:
    assert main(["models", "mobilenet_v3_smal?", "--json", "--image-size", "64"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["mobilenet_v3_small"]
    assert rows[0]["macs"] == summary(small, SMALL_SHAPE).total_macs and rows[0]["image_size"] == 64
    assert rows[0]["params"] == 2_542_856
    assert main(["models", "mobilenet_v3_small"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["model", "params", "MACs@224"]
    assert out[1].split() == ["mobilenet_v3_small", "2,542,856", "56.5", "M"]


def test_model_counts_fall_back_to_a_real_build() -> None:
    from lucid.cli.models import count_model

    class DataDependent(nn.Module):
        """Cannot run on the meta device: it looks at values."""

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x) if bool(x.sum() > -1e9) else x

    row = count_model(DataDependent, image_size=8)
    assert row == {"params": 16, "macs": 4 * 3 * 64, "image_size": 8}
    assert count_model(lambda: nn.Linear(3, 3), image_size=8)["macs"] is None  # cannot take an image
