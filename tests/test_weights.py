"""weights=: torchvision's and timm's checkpoints give identical outputs; registered weights; safety."""

from __future__ import annotations

import email.message
import hashlib
import io
import re
import struct
from pathlib import Path
from urllib.error import URLError

import pytest
import timm
import torch
import torchvision
from safetensors.torch import save_file

import lucid
import lucid.models as models
from lucid.checkpoint import CheckpointError
from lucid.cli import main as cli_main
from lucid.models import weights as W
from reference_helpers import randomise_batchnorm

PRESETS = ("mobilenet_v3_small", "mobilenet_v3_large")
TIMM_NAMES = {"mobilenet_v3_small": "mobilenetv3_small_100", "mobilenet_v3_large": "mobilenetv3_large_100"}


def randomise(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights and BN parameters, statistics measured on a batch then perturbed (see reference_helpers)."""
    batch = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(seed))
    return randomise_batchnorm(model, seed, weights=True, calibrate=batch)


@pytest.fixture(scope="module")
def writers(tmp_path_factory) -> dict[tuple[str, str], tuple[torch.nn.Module, dict[str, Path]]]:
    """Random torchvision and timm models of both presets, saved in their native formats."""
    folder = tmp_path_factory.mktemp("foreign")
    out = {}
    for seed, preset in enumerate(PRESETS):
        tv = randomise(getattr(torchvision.models, preset)(weights=None), seed)
        torch.save(tv.state_dict(), folder / f"tv_{preset}.pth")
        out[(preset, "torchvision")] = (tv, {"pth": folder / f"tv_{preset}.pth"})
        tm = randomise(timm.create_model(TIMM_NAMES[preset], pretrained=False), seed + 10)
        save_file(tm.state_dict(), str(folder / f"timm_{preset}.safetensors"))
        torch.save(tm.state_dict(), folder / f"timm_{preset}.pth")
        out[(preset, "timm")] = (
            tm,
            {"safetensors": folder / f"timm_{preset}.safetensors", "pth": folder / f"timm_{preset}.pth"},
        )
    return out


pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    # The timm files here are native (mobilenetv3_*); the warning that a timm file cannot tell
    # native from TF-ported weights is tested in test_hostile_checkpoint.py.
    pytest.mark.filterwarnings("ignore:.*does not say which constants:UserWarning"),
]


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("source, fmt", [("torchvision", "pth"), ("timm", "safetensors"), ("timm", "pth")])
def test_foreign_checkpoints_give_identical_logits(writers, preset, source, fmt):
    reference, files = writers[(preset, source)]
    model = getattr(models, preset)(weights=files[fmt]).eval()
    assert model.model_name == preset
    assert all(
        m.eps == W.SOURCE_CONSTANTS[source]["bn_eps"] for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)
    )
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    assert relative_error(logits(model, x), logits(reference, x)) < 1e-5
    # In float64 the rounding noise vanishes: the conversion itself is exact.
    assert relative_error(logits(model.double(), x.double()), logits(reference.double(), x.double())) < 1e-12
    reference.float()
    assert model.pretrained_cfg["source"] == source and len(model.pretrained_cfg["categories"]) == 1000


@pytest.mark.parametrize(
    "preset, twin, constants",
    [
        ("mobilenet_v3_small_075", "mobilenetv3_small_075", {"bn_eps": 1e-5, "padding": "symmetric"}),
        # timm has the minimalistic networks only as TensorFlow ports: eps 1e-3 and SAME padding.
        ("mobilenet_v3_small_minimal", "tf_mobilenetv3_small_minimal_100", {"bn_eps": 1e-3, "padding": "same"}),
    ],
)
def test_timm_variants_load_with_their_constants(preset, twin, constants, tmp_path):
    reference = randomise(timm.create_model(twin, pretrained=False), 5)
    save_file(reference.state_dict(), str(tmp_path / "variant.safetensors"))
    model = models.create_model(preset, weights=tmp_path / "variant.safetensors").eval()
    assert {k: getattr(model.config, k) for k in constants} == constants
    x = torch.randn(2, 3, 97, 101)  # odd sizes: SAME padding differs from symmetric here
    assert relative_error(logits(model, x), logits(reference, x)) < 1e-5


def test_models_without_classifier_drop_or_miss_the_head(writers, tmp_path):
    reference, files = writers[("mobilenet_v3_small", "timm")]
    headless = models.mobilenet_v3_small(weights=files["safetensors"], classifier=False).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        features = reference.forward_head(reference.forward_features(x), pre_logits=True)
    assert headless.num_classes == 0 and relative_error(logits(headless, x), features) < 1e-5
    assert headless.pretrained_cfg["categories"] is None
    state = {k: v for k, v in reference.state_dict().items() if not k.startswith("classifier.")}
    with pytest.warns(UserWarning, match=r"the checkpoint has no classifier.*fc2\.1"):
        with_head = models.mobilenet_v3_small(weights=state)
    assert with_head.fc2[1].out_features == 1000
    again = models.mobilenet_v3_small(weights=lucid.save(headless, tmp_path / "headless.safetensors"))
    assert again.num_classes == 0  # the lucid checkpoint's config says: no classifier


def test_the_source_constants_matter(writers):
    reference, files = writers[("mobilenet_v3_small", "torchvision")]
    wrong = models.mobilenet_v3_small(weights=files["pth"], bn_eps=1e-5).eval()
    x = torch.randn(2, 3, 96, 96)
    assert relative_error(logits(wrong, x), logits(reference, x)) > 1e-4


def test_other_num_classes_reinitialises_only_the_head(writers):
    reference, files = writers[("mobilenet_v3_small", "torchvision")]
    full = models.mobilenet_v3_small(weights=files["pth"]).eval()
    with pytest.warns(UserWarning, match=r"1000 classes but the model 10.*fc2\.1.*newly initialised"):
        model = models.mobilenet_v3_small(weights=files["pth"], num_classes=10).eval()
    assert model.fc2[1].weight.shape == (10, 1024) and model.fc2[1].weight.std() > 0
    head = {"fc2.1.weight", "fc2.1.bias"}
    mine, theirs = model.state_dict(), full.state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs if k not in head)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(
            model.forward_head(model.forward_features(x), pre_logits=True),
            full.forward_head(full.forward_features(x), pre_logits=True),
        )
    assert model.pretrained_cfg["categories"] is None and model.pretrained_cfg["num_classes"] == 10


def test_one_channel_stem_sums_the_rgb_filters(writers):
    _, files = writers[("mobilenet_v3_large", "timm")]
    rgb = models.mobilenet_v3_large(weights=files["safetensors"]).eval()
    grey = models.mobilenet_v3_large(weights=files["safetensors"], in_channels=1).eval()
    image = torch.randn(2, 1, 64, 64)
    assert relative_error(logits(grey, image), logits(rgb, image.repeat(1, 3, 1, 1))) < 1e-5
    assert grey.pretrained_cfg["input_size"] == [1, 224, 224] and len(grey.pretrained_cfg["mean"]) == 1


def test_more_channels_repeat_and_rescale_the_filters(writers):
    _, files = writers[("mobilenet_v3_small", "torchvision")]
    rgb = models.mobilenet_v3_small(weights=files["pth"])
    four = models.mobilenet_v3_small(weights=files["pth"], in_channels=4)
    w, w4 = rgb.conv_first[0].weight, four.conv_first[0].weight
    assert w4.shape[1] == 4
    assert torch.allclose(w4, torch.cat([w, w[:, :1]], dim=1) * 3 / 4)


def test_wrapped_and_prefixed_state_dicts_load(writers, tmp_path):
    reference, files = writers[("mobilenet_v3_small", "timm")]
    wrapped = {"state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}, "epoch": 3}
    torch.save(wrapped, tmp_path / "train.pth")
    model = models.mobilenet_v3_small(weights=tmp_path / "train.pth").eval()
    x = torch.randn(1, 3, 64, 64)
    assert relative_error(logits(model, x), logits(reference, x)) < 1e-5
    in_memory = models.mobilenet_v3_small(weights=reference.state_dict()).eval()
    assert torch.equal(logits(in_memory, x), logits(model, x))


def test_mismatches_are_reported_with_source_names(writers, tmp_path):
    reference, files = writers[("mobilenet_v3_small", "torchvision")]
    with pytest.raises(
        CheckpointError,
        match=r"torchvision checkpoint has 11 inverted-residual blocks but "
        r"mobilenet_v3_large has 15",
    ):
        models.mobilenet_v3_large(weights=files["pth"])
    state = dict(reference.state_dict())
    del state["features.4.block.1.1.running_var"]
    state["features.2.block.0.0.weight"] = torch.zeros(70, 16, 1, 1)
    state["features.99.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError) as info:
        models.mobilenet_v3_small(weights=tmp_path / "broken.pth")
    message = str(info.value)
    assert "broken.pth" in message and "features.4.block.1.1.running_var (for bottlenecks.3.residual.1.1" in message
    assert "features.99.weight" in message and "features.2.block.0.0.weight -> bottlenecks.1.residual.0.0" in message
    torch.save({"encoder.weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match=r"other\.pth: unrecognised checkpoint layout"):
        models.mobilenet_v3_small(weights=tmp_path / "other.pth")


def test_failed_load_into_an_existing_model_changes_nothing(writers):
    _, files = writers[("mobilenet_v3_small", "torchvision")]
    target = models.mobilenet_v3_large()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError):
        W.load_weights(target, files["pth"])
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


def test_load_weights_warns_about_other_source_constants(writers):
    reference, files = writers[("mobilenet_v3_small", "timm")]
    model = models.mobilenet_v3_small()  # preset eps 1e-3, timm trained with 1e-5
    with pytest.warns(UserWarning, match=r"built with \{'bn_eps': 0.001\} but timm's weights were trained with"):
        W.load_weights(model, files["pth"])
    assert torch.equal(model.conv_first[0].weight, reference.conv_stem.weight)


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('ran')",))

    path = tmp_path / "evil.pth"
    torch.save({"features.0.0.weight": torch.zeros(16, 3, 3, 3), "x": Payload()}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pth: refused.*references exec.*weights_only=True"):
        models.mobilenet_v3_small(weights=path)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the control: an unsafe load does run the payload
    assert marker.read_text() == "ran"


def test_truncated_foreign_files_are_refused(writers, tmp_path):
    _, files = writers[("mobilenet_v3_small", "timm")]
    for suffix in ("pth", "safetensors"):
        data = files[suffix].read_bytes()
        cut = tmp_path / f"cut.{suffix}"
        cut.write_bytes(data[: len(data) * 2 // 3])
        with pytest.raises(CheckpointError, match=rf"cut\.{suffix}: not a readable .*truncated or corrupted"):
            models.mobilenet_v3_small(weights=cut)
    with pytest.raises(FileNotFoundError, match="no weights file"):
        models.mobilenet_v3_small(weights=tmp_path / "absent.pth")
    with pytest.raises(TypeError, match="weights must be"):
        models.mobilenet_v3_small(weights=3)


def test_lucid_checkpoints_load_through_the_factories(writers, tmp_path):
    _, files = writers[("mobilenet_v3_small", "timm")]
    source = models.mobilenet_v3_small(weights=files["safetensors"]).eval()
    path = lucid.save(source, tmp_path / "small.safetensors")
    again = models.mobilenet_v3_small(weights=path).eval()
    assert again.conv_first[1].eps == 1e-5 and again.pretrained_cfg["source"] == "lucid"
    x = torch.randn(1, 3, 64, 64)
    assert torch.equal(logits(again, x), logits(source, x))
    with pytest.raises(CheckpointError, match="rebuild it with lucid.models.load_model"):
        models.mobilenet_v3_large(weights=path)


def test_fine_tuned_checkpoint_keeps_its_own_head_through_the_factory(tmp_path, recwarn):
    tuned = models.mobilenet_v3_small(num_classes=10, in_channels=1).eval()
    path = lucid.save(tuned, tmp_path / "tuned10.safetensors")
    again = models.mobilenet_v3_small(weights=path).eval()  # num_classes left to the checkpoint
    assert again.num_classes == 10 and again.config.in_channels == 1
    assert not [w for w in recwarn if "newly initialised" in str(w.message)]
    x = torch.randn(2, 1, 64, 64)
    assert torch.equal(logits(again, x), logits(tuned, x))


# ---------------------------------------------------------------------------------- registry


def test_registered_entries_carry_torchvision_metadata():
    small, large = models.mobilenet_v3_small(), models.mobilenet_v3_large()
    entries = {str(m): m for name in ("mobilenet_v3_small", "mobilenet_v3_large") for m in W.list_weights(name)}
    assert set(entries) == {
        "MobileNet_V3_Small_Weights.IMAGENET1K_V1",
        "MobileNet_V3_Large_Weights.IMAGENET1K_V1",
        "MobileNet_V3_Large_Weights.IMAGENET1K_V2",
    }
    published = {m.value.model_name + m.name: m for m in entries.values()}
    for member in entries.values():
        entry = member.entry
        assert entry.url.startswith("https://download.pytorch.org/models/" + entry.model_name + "-")
        assert re.fullmatch(rf"{entry.model_name}-{entry.sha256_prefix}\.pth", member.file_name)
        built = small if entry.model_name == "mobilenet_v3_small" else large
        assert entry.num_params == sum(p.numel() for p in built.parameters())
        meta = member.meta
        assert len(meta["categories"]) == 1000 and meta["categories"][0] == "tench"
        assert meta["input_size"] == (3, 224, 224) and meta["mean"] == W.IMAGENET_MEAN
    torchvision_tables = {
        "mobilenet_v3_small": torchvision.models.MobileNet_V3_Small_Weights,
        "mobilenet_v3_large": torchvision.models.MobileNet_V3_Large_Weights,
    }
    for member in published.values():
        theirs = torchvision_tables[member.model_name][member.name]
        assert member.url == theirs.url and member.meta["categories"] == theirs.meta["categories"]
        assert member.meta["metrics"]["ImageNet-1K"] == theirs.meta["_metrics"]["ImageNet-1K"]
    assert W.get_weights("mobilenet_v3_small", "DEFAULT") is W.MobileNet_V3_Small_Weights.IMAGENET1K_V1
    assert W.get_weights("mobilenet_v3_large", "DEFAULT") is W.MobileNet_V3_Large_Weights.IMAGENET1K_V2
    assert W.get_weights("mobilenet_v3_large", "MobileNet_V3_Large_Weights.IMAGENET1K_V1").entry.acc1 == 74.042


def test_transforms_give_the_network_input():
    from PIL import Image

    image = Image.new("RGB", (320, 240), (255, 128, 0))
    x = W.MobileNet_V3_Large_Weights.IMAGENET1K_V2.transforms()(image)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    assert torch.allclose(
        x[:, 0, 0],
        (torch.tensor([1.0, 128 / 255, 0.0]) - torch.tensor(W.IMAGENET_MEAN)) / torch.tensor(W.IMAGENET_STD),
        atol=1e-5,
    )


def test_unknown_or_mismatched_registered_names():
    with pytest.raises(ValueError, match=r"unknown weights 'IMAGENET1K_V2' for mobilenet_v3_small.*IMAGENET1K_V1"):
        models.mobilenet_v3_small(weights="IMAGENET1K_V2")
    with pytest.raises(ValueError, match=r"unknown weights 'default'.*DEFAULT.*and there is no file 'default'"):
        models.mobilenet_v3_small(weights="default")
    with pytest.raises(ValueError, match="are for mobilenet_v3_large, not for mobilenet_v3_small"):
        models.mobilenet_v3_small(weights=W.MobileNet_V3_Large_Weights.IMAGENET1K_V1)
    with pytest.raises(ValueError, match="no registered weights for model 'tiny'"):
        W.get_weights("tiny", "DEFAULT")


def test_cache_dir_honours_lucid_home_then_torch_home(tmp_path, monkeypatch):
    monkeypatch.delenv("LUCID_HOME", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert W.weights_cache_dir() == tmp_path / "torch" / "hub" / "checkpoints"
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "lucid"))
    assert W.weights_cache_dir() == tmp_path / "lucid" / "checkpoints"


def test_registered_name_loads_the_cached_file_without_network(writers, tmp_path, monkeypatch):
    reference, files = writers[("mobilenet_v3_small", "torchvision")]
    monkeypatch.setenv("LUCID_HOME", str(tmp_path))
    entry = W.MobileNet_V3_Small_Weights.IMAGENET1K_V1
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / entry.file_name).write_bytes(files["pth"].read_bytes())

    def no_network(*args, **kwargs):
        raise AssertionError("a cached file must not be downloaded again")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    for weights in ("DEFAULT", "IMAGENET1K_V1", entry):
        model = models.mobilenet_v3_small(weights=weights).eval()
        x = torch.randn(1, 3, 64, 64)
        assert relative_error(logits(model, x), logits(reference, x)) < 1e-5
    plain = models.mobilenet_v3_small().eval()
    plain.load_state_dict(entry.get_state_dict())  # torchvision's spelling, lucid's keys
    assert torch.equal(logits(plain, x), logits(model, x))
    cfg = model.pretrained_cfg
    assert cfg["weights"] == "MobileNet_V3_Small_Weights.IMAGENET1K_V1" and cfg["categories"][1] == "goldfish"
    assert cfg["metrics"]["ImageNet-1K"] == {"acc@1": 67.668, "acc@5": 87.402} and cfg["resize_size"] == 256


def test_no_network_error_says_how_to_pass_a_local_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LUCID_HOME", str(tmp_path))

    def offline(url, dst, hash_prefix=None, progress=True):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(W.WeightsUnavailableError) as info:
        models.mobilenet_v3_large(weights="DEFAULT")
    message = str(info.value)
    assert "mobilenet_v3_large-5c1a4163.pth" in message and "no network" in message
    assert 'weights="/path/to/mobilenet_v3_large-5c1a4163.pth"' in message
    assert str(tmp_path / "checkpoints") in message and "LUCID_HOME" in message
    assert not any((tmp_path / "checkpoints").iterdir())
    assert cli_main(["convert", "DEFAULT", "--model", "mobilenet_v3_large", "--out", str(tmp_path / "x")]) == 2


class FakeResponse(io.BytesIO):
    """What urlopen returns, serving fixed bytes (torch.hub's downloader reads it in chunks)."""

    def info(self):
        headers = email.message.Message()
        headers["Content-Length"] = str(len(self.getvalue()))
        return headers


def served_entry(payload: bytes, tmp_path, monkeypatch, prefix: str | None = None) -> W.Weights:
    monkeypatch.setenv("LUCID_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "urlopen", lambda request, *a, **k: FakeResponse(payload))
    prefix = prefix or hashlib.sha256(payload).hexdigest()[:8]
    base = W.MobileNet_V3_Small_Weights.IMAGENET1K_V1.entry
    fields = {name: getattr(base, name) for name in base.__dataclass_fields__}
    fields.update(url=f"https://example.invalid/models/mobilenet_v3_small-{prefix}.pth", sha256_prefix=prefix)
    return W.Weights(**fields)


def test_download_goes_through_torch_hub_with_hash_check(writers, tmp_path, monkeypatch):
    reference, files = writers[("mobilenet_v3_small", "torchvision")]
    entry = served_entry(files["pth"].read_bytes(), tmp_path, monkeypatch)
    model = models.mobilenet_v3_small(weights=entry).eval()
    x = torch.randn(1, 3, 64, 64)
    assert relative_error(logits(model, x), logits(reference, x)) < 1e-5
    assert (tmp_path / "checkpoints" / entry.file_name).is_file()


def test_download_with_a_wrong_hash_is_refused_and_not_cached(writers, tmp_path, monkeypatch):
    _, files = writers[("mobilenet_v3_small", "torchvision")]
    entry = served_entry(files["pth"].read_bytes(), tmp_path, monkeypatch, prefix="00000000")
    with pytest.raises(CheckpointError, match="failed its hash check"):
        models.mobilenet_v3_small(weights=entry)
    assert list((tmp_path / "checkpoints").iterdir()) == []


# ---------------------------------------------------------------------------------- CLI


def test_convert_cli_end_to_end(writers, tmp_path, capsys):
    reference, files = writers[("mobilenet_v3_large", "timm")]
    out = tmp_path / "large.safetensors"
    assert cli_main(["convert", str(files["pth"]), "--model", "mobilenet_v3_large", "--out", str(out)]) == 0
    assert "converted timm checkpoint" in capsys.readouterr().out
    model = models.load_model(out)
    x = torch.randn(1, 3, 64, 64)
    assert relative_error(logits(model, x), logits(reference, x)) < 1e-5
    assert model.model_name == "mobilenet_v3_large" and model.checkpoint_extra["source_format"] == "timm"
    assert len(model.pretrained_cfg["categories"]) == 1000

    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    assert cli_main(["convert", str(bad), "--model", "mobilenet_v3_large", "--out", str(tmp_path / "o")]) == 2
    assert "bad.pth" in capsys.readouterr().err


def test_convert_cli_takes_the_constants_of_a_tf_port(tmp_path, capsys):
    """A tf_mobilenetv3_small_100 file cannot say it is a TF port: --bn-eps 1e-3 --padding same say it."""
    reference = randomise(timm.create_model("tf_mobilenetv3_small_100", pretrained=False), 21)
    save_file(reference.state_dict(), str(tmp_path / "tf_small.safetensors"))
    out = tmp_path / "small.safetensors"
    argv = ["convert", str(tmp_path / "tf_small.safetensors"), "--model", "mobilenet_v3_small", "--out", str(out)]
    assert cli_main([*argv, "--bn-eps", "1e-3", "--padding", "same"]) == 0
    model = models.load_model(out)
    assert model.config.padding == "same" and model.config.bn_eps == 1e-3
    x = torch.randn(1, 3, 65, 71)  # odd sizes: SAME padding differs from symmetric here
    assert relative_error(logits(model, x), logits(reference, x)) < 1e-5


def test_weights_cli_lists_the_registered_entries(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LUCID_HOME", str(tmp_path))
    assert cli_main(["weights"]) == 0
    text = capsys.readouterr().out
    assert "IMAGENET1K_V2 (DEFAULT)" in text and "75.274" in text and str(tmp_path) in text
    assert cli_main(["weights", "mobilenet_v3_small", "--json"]) == 0
    rows = __import__("json").loads(capsys.readouterr().out)
    assert [r["weights"] for r in rows] == ["IMAGENET1K_V1"] and rows[0]["cached"] is False
    assert rows[0]["metrics"] == {"acc@1": 67.668, "acc@5": 87.402} and rows[0]["dataset"] == "ImageNet-1K"


def test_weights_cli_shows_each_task_its_own_metrics_in_strict_json(capsys):
    """Segmentation and detection weights publish mIoU and box mAP, not top-1: the table shows
    those (where it showed "nan"), and --json stays strict JSON (null, not NaN)."""
    assert cli_main(["weights"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "mIoU 57.9, pixel acc 91.2 (COCO-val2017-VOC-labels)" in lines["lraspp_mobilenet_v3_large"]
    assert "box mAP 21.3 (COCO-val2017)" in lines["ssdlite320_mobilenet_v3_large"]
    assert not any("nan" in line for line in lines.values())
    for model, metrics in (
        ("lraspp_mobilenet_v3_large", {"miou": 57.9, "pixel_acc": 91.2}),
        ("ssdlite320_mobilenet_v3_large", {"box_map": 21.3}),
    ):
        assert cli_main(["weights", model, "--json"]) == 0
        text = capsys.readouterr().out
        rows = __import__("json").loads(text, parse_constant=lambda name: pytest.fail(f"{name} in --json"))
        assert rows[0]["metrics"] == metrics and rows[0]["acc@1"] is None


def test_safetensors_header_is_sniffed_not_the_suffix(writers, tmp_path):
    reference, files = writers[("mobilenet_v3_small", "timm")]
    renamed = tmp_path / "weights.bin"
    renamed.write_bytes(files["safetensors"].read_bytes())
    assert struct.unpack("<Q", renamed.read_bytes()[:8])[0] > 0
    model = models.mobilenet_v3_small(weights=renamed).eval()
    assert torch.equal(model.fc1[0].weight, reference.conv_head.weight.flatten(1))
