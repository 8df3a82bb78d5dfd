"""Hostile and mistaken checkpoint files: each is refused with lucid's own error naming the file.

Every case is built on the fly in a temporary folder. Through the Python API the error must be a
:class:`lucid.errors.LucidError` (a ``CheckpointError``) whose message names the file; through
``lucid eval`` / ``predict`` / ``convert`` the exit status must be non-zero with one line on
stderr naming the file, and the file must be unchanged on disk.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
import zipfile
from pathlib import Path

import pytest
import timm
import torch
import torchvision
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

import lucid
from lucid import models
from lucid.checkpoint import CheckpointError, checkpoint_digest
from lucid.cli import main as cli_main
from lucid.errors import LucidError
from reference_helpers import randomise_batchnorm

SPECS = [(3, 16, 16, True, False, 2, 2), (3, 48, 24, False, True, 2, 4)]


def tiny(num_classes: int = 10) -> models.MobileNet_V3:
    return models.MobileNet_V3(
        models.MobileNetV3Config(SPECS, last_channels=32, num_classes=num_classes), model_name="tiny"
    ).eval()


@pytest.fixture
def good(tmp_path: Path) -> Path:
    """A valid 10-class lucid checkpoint with a training record in ``extra``."""
    lucid.manual_seed(0)
    extra = {"image_size": 32, "categories": [str(i) for i in range(10)], "data": {"image_size": 32}}
    return lucid.save(tiny(), tmp_path / "good.safetensors", extra=extra)


def read_raw(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(path), framework="pt") as handle:
        return {k: handle.get_tensor(k) for k in handle.keys()}, dict(handle.metadata())


def tamper(source: Path, target: Path, *, resign: bool = True, drop: tuple[str, ...] = (), **changes: str) -> Path:
    """A copy of ``source`` with metadata entries changed; ``resign`` recomputes the digest as an
    attacker who knows the format would, so the checks behind the checksum are tested too."""
    state, meta = read_raw(source)
    meta.update(changes)
    for key in drop:
        meta.pop(key, None)
    if resign and "lucid.sha256" in meta:
        meta["lucid.sha256"] = checkpoint_digest(state, meta)
    save_file(state, str(target), metadata=meta)
    return target


def config_with(path: Path, **fields) -> str:
    _, meta = read_raw(path)
    return json.dumps({**json.loads(meta["lucid.config"]), **fields})


def refused(path: Path, call, match: str = "") -> str:
    """``call()`` raises lucid's CheckpointError naming ``path``; the file is left unchanged."""
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(CheckpointError) as info:
        call()
    message = str(info.value)
    assert isinstance(info.value, LucidError) and isinstance(info.value, ValueError)
    assert path.name in message, message
    assert match in message, message
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    return message


def test_good_checkpoint_loads(good):
    model = models.load_model(good)
    assert model.num_classes == 10 and model.model_name == "tiny" and model.checkpoint_extra["image_size"] == 32


def test_metadata_is_covered_by_the_checksum(good, tmp_path):
    bad = tamper(good, tmp_path / "edited.safetensors", resign=False, **{"lucid.extra": json.dumps({"image_size": 33})})
    refused(bad, lambda: models.load_model(bad), "checksum mismatch")
    refused(bad, lambda: lucid.load(bad), "checksum mismatch")


def test_checkpoint_without_checksum_is_refused(good, tmp_path):
    bad = tamper(good, tmp_path / "unsigned.safetensors", drop=("lucid.sha256",))
    refused(bad, lambda: models.load_model(bad), "no valid checksum")
    refused(bad, lambda: lucid.load(bad), "no valid checksum")


def test_config_must_describe_the_tensors(good, tmp_path):
    bad = tamper(good, tmp_path / "eleven.safetensors", **{"lucid.config": config_with(good, num_classes=11)})
    message = refused(bad, lambda: models.load_model(bad), "does not describe its own tensors")
    assert "fc2.1.weight" in message and "(11, 32)" in message


def test_huge_sizes_are_refused_before_anything_is_built(good, tmp_path):
    wide = tamper(good, tmp_path / "wide.safetensors", **{"lucid.config": config_with(good, last_channels=10**9)})
    refused(wide, lambda: models.load_model(wide), "1,000,000,000 channels")
    for where in ({"image_size": 100000}, {"data": {"image_size": 100000}}):
        name = f"resize{len(where)}{'data' in where}.safetensors"
        big = tamper(good, tmp_path / name, **{"lucid.extra": json.dumps(where)})
        refused(big, lambda big=big: models.load_model(big), "is not an image size")


def test_deeply_nested_metadata_is_a_clear_error(good, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    bad = tamper(good, tmp_path / "deep.safetensors", **{"lucid.extra": json.dumps({"x": 1})[:-1] + f', "y": {deep}}}'})
    refused(bad, lambda: models.load_model(bad), "nested 100001 levels deep")


def test_class_names_must_fit_the_classifier(good, tmp_path):
    extra = json.dumps({"categories": ["a", "b"]})
    bad = tamper(good, tmp_path / "names.safetensors", **{"lucid.extra": extra})
    refused(bad, lambda: models.load_model(bad), "names 2 classes")


def test_factories_bound_what_a_lucid_file_records(tmp_path):
    lucid.manual_seed(0)
    path = lucid.save(
        models.mobilenet_v3_small(num_classes=3), tmp_path / "small3.safetensors", extra={"image_size": 100000}
    )
    refused(path, lambda: models.mobilenet_v3_small(weights=path), "extra.image_size = 100000")
    refused(path, lambda: models.load_weights(models.mobilenet_v3_small(num_classes=3), path), "is not an image size")


def test_a_folder_is_not_a_checkpoint(tmp_path):
    folder = tmp_path / "model.safetensors"
    folder.mkdir()
    for call in (
        lambda: models.load_model(folder),
        lambda: models.mobilenet_v3_small(weights=folder),
        lambda: lucid.load(folder),
    ):
        with pytest.raises(CheckpointError, match=r"model\.safetensors: is a folder") as info:
            call()
        assert isinstance(info.value, FileNotFoundError)


@pytest.fixture
def stub(tmp_path: Path) -> Path:
    path = tmp_path / "stub.safetensors"
    path.write_bytes(b"\x05\x00\x00\x00\x00")
    return path


def test_five_byte_safetensors_through_every_loader(stub, tmp_path):
    refused(stub, lambda: models.load_model(stub), "not a safetensors file")
    refused(stub, lambda: models.mobilenet_v3_small(weights=stub), "not a safetensors file")
    refused(stub, lambda: models.create_model("mobilenet_v3_large", weights=str(stub)), "not a safetensors file")
    refused(stub, lambda: models.load_weights(models.mobilenet_v3_small(), stub), "not a safetensors file")
    out = tmp_path / "out.safetensors"
    refused(stub, lambda: models.weights.convert_checkpoint(stub, "mobilenet_v3_small", out))
    assert not out.exists()


def test_torchvision_file_through_load_model_says_what_to_use(tmp_path):
    path = tmp_path / "tv_small.pth"
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), path)
    message = refused(path, lambda: models.load_model(path), "a torchvision state dict")
    assert "mobilenet_v3_small(weights=" in message and "lucid convert" in message
    assert "corrupted" not in message


def test_segmentation_checkpoint_through_load_model_says_what_to_use(tmp_path):
    path = lucid.save(models.lraspp_mobilenet_v3_small(num_classes=3), tmp_path / "seg.safetensors")
    refused(path, lambda: models.load_model(path), "lucid.models.load_segmentation_model")


def test_decompression_bomb_pth_is_refused_from_its_directory(tmp_path):
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(4)}, buffer)
    path = tmp_path / "bomb.pth"
    with (
        zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source,
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        for info in source.infolist():
            archive.writestr(info.filename, source.read(info.filename))
        archive.writestr("archive/data/99", b"\0" * (256 << 20))  # 256 MiB of zeros, about 250 KiB packed
    assert path.stat().st_size < 1 << 20
    refused(path, lambda: models.mobilenet_v3_small(weights=path), "declares")


def test_a_typo_in_a_weights_name_gets_a_suggestion():
    with pytest.raises(ValueError, match=r"did you mean 'IMAGENET1K_V2'"):
        models.get_weights("mobilenet_v3_large", "IMAGENET1K_V22")
    with pytest.raises(ValueError, match=r"did you mean 'mobilenet_v3_small'"):
        models.create_model("mobilenet_v3_smal")


def test_tf_only_preset_loads_timm_tf_port_exactly(tmp_path):
    """Issue 13 item 8: timm publishes mobilenet_v3_large_075 only as a TF port (eps 1e-3, SAME padding)."""
    reference = timm.create_model("tf_mobilenetv3_large_075", pretrained=False)
    generator = torch.Generator().manual_seed(3)
    batch = torch.randn(2, 3, 64, 64, generator=generator)
    reference = randomise_batchnorm(reference, seed=3, weights=True, calibrate=batch)
    save_file(reference.state_dict(), str(tmp_path / "tf_large_075.safetensors"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about: the preset has only TF weights
        model = models.create_model("mobilenet_v3_large_075", weights=tmp_path / "tf_large_075.safetensors")
    assert model.config.padding == "same" and model.config.bn_eps == 1e-3
    x = torch.randn(1, 3, 67, 75, generator=generator)
    with torch.no_grad():
        got, expected = model.eval()(x), reference(x)
    assert ((got - expected).abs().max() / expected.abs().max()).item() < 1e-5


def test_ambiguous_timm_file_says_what_it_assumed(tmp_path):
    reference = timm.create_model("mobilenetv3_small_075", pretrained=False)
    save_file(reference.state_dict(), str(tmp_path / "small_075.safetensors"))
    with pytest.warns(
        UserWarning,
        match=r"small_075\.safetensors.*built mobilenet_v3_small_075 with "
        r"\{'bn_eps': 1e-05\}.*pass bn_eps=0\.001, padding='same'",
    ):
        models.create_model("mobilenet_v3_small_075", weights=tmp_path / "small_075.safetensors")


# ------------------------------------------------------------------------------------------ CLI


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "img.png"
    Image.new("RGB", (40, 40), (120, 30, 200)).save(path)
    return path


def run_cli(argv: list[str], path: Path, capsys) -> str:
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    status = cli_main(argv)
    err = capsys.readouterr().err.strip()
    assert status != 0, err
    assert len(err.splitlines()) == 1 and path.name in err, err
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    return err


def hostile_files(good: Path, tmp_path: Path) -> list[Path]:
    stub = tmp_path / "five.safetensors"
    stub.write_bytes(b"\x05\x00\x00\x00\x00")
    return [
        tamper(good, tmp_path / "eleven.safetensors", **{"lucid.config": config_with(good, num_classes=11)}),
        tamper(good, tmp_path / "unsigned.safetensors", drop=("lucid.sha256",)),
        tamper(good, tmp_path / "edited.safetensors", resign=False, **{"lucid.extra": "{}"}),
        tamper(good, tmp_path / "huge.safetensors", **{"lucid.extra": json.dumps({"image_size": 100000})}),
        stub,
    ]


def test_cli_eval_and_predict_refuse_hostile_checkpoints(good, tmp_path, image, capsys):
    data = tmp_path / "data"
    for label in "ab":
        (data / label).mkdir(parents=True)
        Image.new("RGB", (32, 32)).save(data / label / "x.png")
    for path in hostile_files(good, tmp_path):
        run_cli(["predict", str(path), str(image)], path, capsys)
        run_cli(["eval", str(path), "--data", str(data)], path, capsys)


def test_cli_convert_refuses_a_stub_and_writes_nothing(tmp_path, capsys):
    stub = tmp_path / "five.safetensors"
    stub.write_bytes(b"\x05\x00\x00\x00\x00")
    out = tmp_path / "out.safetensors"
    err = run_cli(["convert", str(stub), "--model", "mobilenet_v3_small", "--out", str(out)], stub, capsys)
    assert "not a safetensors file" in err and not out.exists()


def test_a_torchscript_program_is_named_not_called_corrupted(tmp_path, capsys):
    program = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(program))
    photo = tmp_path / "p.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(photo)
    assert cli_main(["predict", str(program), str(photo)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a TorchScript program (torch.jit.save" in err[0], err
