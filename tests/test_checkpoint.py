"""lucid checkpoints: exact round trips, atomic writes, and clear refusals of bad files."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import lucid
import lucid.checkpoint as ckpt
from lucid.checkpoint import CheckpointError
from lucid.models import MobileNet_V3, MobileNetV3Config, load_model
from reference_helpers import randomise_batchnorm

SPECS = [(3, 16, 16, True, False, 2, 2), (3, 48, 24, False, True, 2, 4), (5, 72, 24, True, True, 1, 4)]


def tiny_model(**overrides) -> MobileNet_V3:
    """A three-block network: every kind of layer, built in milliseconds."""
    config = MobileNetV3Config(SPECS, last_channels=64, num_classes=5, se_divisor=8, **overrides)
    model = randomise_batchnorm(MobileNet_V3(config, model_name="tiny"), seed=int(torch.randint(1000, ())))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.num_batches_tracked.fill_(7)
    return model


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def model() -> MobileNet_V3:
    torch.manual_seed(0)
    return tiny_model()


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


def test_round_trip_is_exact(model, tmp_path):
    path = lucid.save(model, tmp_path / "m.safetensors", extra={"epoch": 3, "categories": list("abcde")})
    assert_state_equal(lucid.load(path), model.state_dict())
    meta = ckpt.read_metadata(path)
    assert meta["format_version"] == ckpt.FORMAT_VERSION and meta["model_name"] == "tiny"
    assert MobileNetV3Config.from_dict(meta["config"]) == model.config

    rebuilt = load_model(path)
    assert not rebuilt.training and rebuilt.model_name == "tiny" and rebuilt.config == model.config
    assert rebuilt.checkpoint_extra == {"epoch": 3, "categories": list("abcde")}
    assert rebuilt.pretrained_cfg["categories"] == list("abcde")
    assert_state_equal(rebuilt.state_dict(), model.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_pretrained_metadata_survives_save_and_load(model, tmp_path):
    model.pretrained_cfg = {"categories": list("vwxyz"), "mean": [0.5] * 3, "std": [0.25] * 3, "source": "x"}
    rebuilt = load_model(lucid.save(model, tmp_path / "m.safetensors"))
    assert rebuilt.pretrained_cfg["categories"] == list("vwxyz")
    assert rebuilt.pretrained_cfg["mean"] == [0.5] * 3 and rebuilt.pretrained_cfg["source"] == "lucid"


def test_overrides_rebuild_with_another_head_or_stem(model, tmp_path):
    path = lucid.save(model, tmp_path / "m.safetensors")
    assert load_model(path, dropout=0.5).fc2[0].p == 0.5
    with pytest.warns(UserWarning, match=r"5 classes.*fc2\.1"):
        other = load_model(path, num_classes=3)
    assert other.fc2[1].out_features == 3 and other.pretrained_cfg["categories"] is None
    assert torch.equal(other.fc1[0].weight, model.fc1[0].weight)
    grey = load_model(path, in_channels=1)
    assert torch.allclose(grey.conv_first[0].weight, model.conv_first[0].weight.sum(1, keepdim=True))


def test_wrapped_models_save_plain_keys(model, tmp_path):
    path = lucid.save(torch.nn.DataParallel(model), tmp_path / "m.safetensors")
    assert set(lucid.load(path)) == set(model.state_dict())
    assert ckpt.read_metadata(path)["model_name"] == "tiny"


def test_saved_file_follows_umask(model, tmp_path):
    path = lucid.save(model, tmp_path / "m.safetensors")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_interrupted_save_keeps_previous_file_and_leaves_no_temp(model, tmp_path, monkeypatch):
    path = lucid.save(model, tmp_path / "m.safetensors")
    before = path.read_bytes()

    def broken_writer(state, filename, metadata=None):
        Path(filename).write_bytes(b"half a checkpoint")
        raise RuntimeError("disk full")

    monkeypatch.setattr(ckpt, "save_file", broken_writer)
    torch.nn.init.zeros_(model.fc1[0].weight)
    with pytest.raises(RuntimeError, match="disk full"):
        lucid.save(model, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_unserialisable_extra_writes_nothing(model, tmp_path):
    with pytest.raises(TypeError, match="JSON"):
        lucid.save(model, tmp_path / "m.safetensors", extra={"when": object()})
    assert list(tmp_path.iterdir()) == []


def test_truncated_file_is_refused_and_model_unchanged(model, tmp_path):
    path = lucid.save(model, tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    for read in (lucid.load, load_model):
        with pytest.raises(CheckpointError, match=r"m\.safetensors.*truncated or corrupted"):
            read(path)
    target = tiny_model()
    before = snapshot(target)
    with pytest.raises(CheckpointError):
        lucid.models.weights.load_weights(target, path)
    assert_state_equal(target.state_dict(), before)


def test_flipped_bytes_fail_the_checksum(model, tmp_path):
    path = lucid.save(model, tmp_path / "m.safetensors")
    data = bytearray(path.read_bytes())
    header = struct.unpack("<Q", data[:8])[0]
    data[8 + header + 100] ^= 0xFF  # inside the tensor data, past the JSON header
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"m\.safetensors: checksum mismatch"):
        lucid.load(path)


def test_version_one_checkpoints_still_load_and_check_their_tensors(model, tmp_path):
    """Format 1 (digest over the tensors only) as this lucid wrote it before the digest covered metadata."""
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    metadata = {
        "lucid.format_version": "1",
        "lucid.sha256": ckpt.state_digest(state),
        "lucid.model": "tiny",
        "lucid.config": json.dumps(model.config.to_dict()),
        "lucid.extra": json.dumps({"epoch": 3}),
    }
    path = tmp_path / "v1.safetensors"
    save_file(state, str(path), metadata=metadata)
    rebuilt = load_model(path)
    assert rebuilt.checkpoint_extra == {"epoch": 3} and rebuilt.model_name == "tiny"
    assert_state_equal(rebuilt.state_dict(), model.state_dict())
    save_file({**state, "fc1.0.bias": state["fc1.0.bias"] + 1}, str(path), metadata=metadata)
    with pytest.raises(CheckpointError, match=r"v1\.safetensors: checksum mismatch: the tensor data"):
        load_model(path)


def test_new_checkpoints_are_version_two_with_the_digest_over_the_metadata(model, tmp_path):
    path = lucid.save(model, tmp_path / "m.safetensors", extra={"epoch": 1})
    assert ckpt.read_metadata(path)["format_version"] == ckpt.FORMAT_VERSION == 2
    data = path.read_bytes().replace(b'{\\"epoch\\": 1}', b'{\\"epoch\\": 2}')
    assert data != path.read_bytes()
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match=r"m\.safetensors: checksum mismatch: the tensor data or metadata"):
        lucid.load(path)


def test_unknown_format_version_is_refused(model, tmp_path):
    path = tmp_path / "future.safetensors"
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(path),
        metadata={"lucid.format_version": "99", "lucid.config": json.dumps(model.config.to_dict())},
    )
    for read in (ckpt.read_metadata, lucid.load, load_model):
        with pytest.raises(CheckpointError, match=r"future\.safetensors: checkpoint format version 99"):
            read(path)


def test_foreign_safetensors_points_to_weights_argument(model, tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match=r"plain\.safetensors.*without lucid metadata.*weights="):
        load_model(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_model(tmp_path / "absent.safetensors")


def test_missing_extra_and_misshaped_keys_are_all_reported_and_nothing_loads(model):
    state = snapshot(model)
    del state["fc1.0.bias"]
    state["surplus.weight"] = torch.zeros(1)
    state["conv_last.0.weight"] = torch.zeros(3, 3, 1, 1)
    target = tiny_model()
    before = snapshot(target)
    with pytest.raises(CheckpointError) as info:
        lucid.models.weights.load_weights(target, state)
    message = str(info.value)
    assert "fc1.0.bias" in message and "surplus.weight" in message and "conv_last.0.weight" in message
    assert_state_equal(target.state_dict(), before)


def test_check_state_dict_names_the_source(model):
    state = snapshot(model)
    state["fc2.1.bias"] = torch.zeros(9)
    with pytest.raises(CheckpointError, match=r"my\.file does not fit MobileNet_V3: shape mismatches.*fc2\.1\.bias"):
        ckpt.check_state_dict(model, state, source="my.file")
