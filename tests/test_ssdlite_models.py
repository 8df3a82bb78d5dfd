"""SSDLite320 on lucid's MobileNet-v3: torchvision parity, the export split, weights files, tools."""

from __future__ import annotations

import json
from functools import partial

import pytest
import torch
from torch import nn
from torchvision.models import mobilenet_v3_small
from torchvision.models.detection import SSDLite320_MobileNet_V3_Large_Weights as TVWeights
from torchvision.models.detection import ssdlite320_mobilenet_v3_large as tv_ssdlite
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.ssd import SSD
from torchvision.models.detection.ssdlite import SSDLiteFeatureExtractorMobileNet, SSDLiteHead

import lucid.models as lm
from lucid import checkpoint
from lucid.checkpoint import CheckpointError
from lucid.cli import main
from lucid.models.ssdlite import ssdlite_from_torchvision, ssdlite_to_torchvision
from reference_helpers import randomise_batchnorm

pytestmark = pytest.mark.usefixtures("one_thread")

SIZE = 320


def _images(seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.rand(3, SIZE, SIZE, generator=generator), torch.rand(3, 200, 300, generator=generator)]


def _sharpen(model: nn.Module, seed: int) -> nn.Module:
    """Random weights and statistics whose class probabilities are far apart, so that the order of
    the detections (top-k, NMS) does not hang on float32 rounding."""
    randomise_batchnorm(model, seed, weights=True)
    with torch.no_grad():
        for module in model.head.modules():
            if isinstance(module, nn.Conv2d) and module.bias is not None:
                module.weight.mul_(3)
    return model.eval()


def _tv_large(num_classes: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return _sharpen(tv_ssdlite(weights=None, weights_backbone=None, num_classes=num_classes), seed)


def _tv_small(num_classes: int, seed: int = 0) -> nn.Module:
    """torchvision's SSDLite recipe on MobileNet-v3 Small, from torchvision's own public parts
    (what ``ssdlite320_mobilenet_v3_large`` does, with the small backbone; C4 is features[9])."""
    torch.manual_seed(seed)
    norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)
    features = mobilenet_v3_small(weights=None, norm_layer=norm, reduced_tail=True).features
    c4 = [0, *(i for i, block in enumerate(features) if getattr(block, "_is_cn", False)), len(features) - 1][-2]
    assert c4 == 9
    extractor = SSDLiteFeatureExtractorMobileNet(features, c4, norm)
    with torch.no_grad():
        channels = [m.shape[1] for m in extractor.eval()(torch.zeros(1, 3, SIZE, SIZE)).values()]
    anchors = DefaultBoxGenerator([[2, 3] for _ in range(6)], min_ratio=0.2, max_ratio=0.95)
    model = SSD(
        extractor,
        anchors,
        (SIZE, SIZE),
        num_classes,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        head=SSDLiteHead(channels, anchors.num_anchors_per_location(), num_classes, norm),
        score_thresh=0.001,
        nms_thresh=0.55,
        detections_per_img=300,
        topk_candidates=300,
    )
    return _sharpen(model, seed)


def _assert_same_detections(got: list[dict], expected: list[dict]) -> None:
    assert len(got) == len(expected)
    for ours, theirs in zip(got, expected, strict=True):
        assert ours["boxes"].shape == theirs["boxes"].shape and len(theirs["boxes"]) > 0
        assert torch.equal(ours["labels"], theirs["labels"])
        torch.testing.assert_close(ours["scores"], theirs["scores"], rtol=0, atol=1e-6)
        torch.testing.assert_close(ours["boxes"], theirs["boxes"], rtol=1e-6, atol=1e-4)  # pixels


@pytest.fixture(scope="module")
def tv_large() -> nn.Module:
    return _tv_large(91)


# --------------------------------------------------------------------------- registry


def test_registered_and_exported():
    assert lm.list_models("ssdlite*") == ["ssdlite320_mobilenet_v3_large", "ssdlite320_mobilenet_v3_small"]
    for name in ("SSDLite", "ssdlite320_mobilenet_v3_large", "postprocess_raw", "ssdlite_from_torchvision"):
        assert name in lm.__all__ and hasattr(lm, name)
    model = lm.create_model("ssdlite320_mobilenet_v3_small", num_classes=3)
    assert isinstance(model, lm.SSDLite) and model.num_classes == 3 and model.config.num_classes == 3
    assert model.pretrained_cfg["image_size"] == (SIZE, SIZE) and model.pretrained_cfg["mean"] == [0.5] * 3
    # the backbone keeps the classification model's names, tapped at C4's expansion and conv_last
    assert model.backbone.body.taps == ("bottlenecks.8.residual.0", "conv_last")
    assert "backbone.body.bottlenecks.8.residual.0.0.weight" in model.state_dict()


def test_registered_weights_match_torchvision(tmp_path, monkeypatch):
    ours = lm.SSDLite320_MobileNet_V3_Large_Weights.COCO_V1
    theirs = TVWeights.COCO_V1
    assert ours.url == theirs.url and ours.file_name.endswith(f"-{ours.entry.sha256_prefix}.pth")
    assert ours.meta["categories"] == list(theirs.meta["categories"]) and len(ours.meta["categories"]) == 91
    assert ours.meta["metrics"] == theirs.meta["_metrics"] and ours.meta["num_params"] == theirs.meta["num_params"]
    assert lm.get_weights("ssdlite320_mobilenet_v3_large", "DEFAULT") is ours
    assert ours in lm.list_weights("ssdlite320_mobilenet_v3_large")
    # A cached file (as torch.hub would have left it) is used without a download.
    monkeypatch.setenv("LUCID_HOME", str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    tv = tv_ssdlite(weights=None, weights_backbone=None, num_classes=91)
    torch.save(tv.state_dict(), tmp_path / "checkpoints" / ours.file_name)
    model = lm.ssdlite320_mobilenet_v3_large(weights="DEFAULT")
    assert model.num_classes == 91 and model.pretrained_cfg["categories"][1] == "person"
    assert model.pretrained_cfg["metrics"] == {"COCO-val2017": {"box_map": 21.3}}
    assert sum(p.numel() for p in model.parameters()) == theirs.meta["num_params"]
    with pytest.raises(ValueError, match="no registered weights"):
        lm.ssdlite320_mobilenet_v3_small(weights="DEFAULT")


# --------------------------------------------------------------------------- torchvision parity


@pytest.mark.parametrize("num_classes", [91, 4])
def test_large_eval_matches_torchvision_file(tmp_path, tv_large, num_classes):
    tv = tv_large if num_classes == 91 else _tv_large(num_classes, seed=1)
    path = tmp_path / "ssdlite.pth"
    torch.save(tv.state_dict(), path)
    model = lm.ssdlite320_mobilenet_v3_large(weights=str(path)).eval()
    assert model.num_classes == num_classes  # read from the file's classification head
    images = _images()
    with torch.no_grad():
        _assert_same_detections(model(images), tv(images))


def test_small_eval_matches_torchvision_built_from_its_parts():
    tv = _tv_small(5, seed=3)
    model = lm.ssdlite320_mobilenet_v3_small(weights=tv.state_dict()).eval()
    images = _images(1)
    with torch.no_grad():
        _assert_same_detections(model(images), tv(images))


def test_training_losses_match_torchvision(tv_large):
    model = lm.ssdlite320_mobilenet_v3_large(weights=tv_large.state_dict())
    reference = tv_ssdlite(weights=None, weights_backbone=None, num_classes=91)
    reference.load_state_dict(tv_large.state_dict())
    targets = [
        {
            "boxes": torch.tensor([[10.0, 20.0, 200.0, 220.0], [50.0, 60.0, 90.0, 100.0]]),
            "labels": torch.tensor([1, 3]),
        },
        {"boxes": torch.tensor([[30.0, 10.0, 280.0, 190.0]]), "labels": torch.tensor([18])},
    ]
    images = _images(2)
    losses = {}
    for key, net in (("lucid", model), ("torchvision", reference)):
        torch.manual_seed(0)
        losses[key] = net.train()(images, targets)
    assert set(losses["lucid"]) == {"bbox_regression", "classification"}
    for name, value in losses["torchvision"].items():
        torch.testing.assert_close(losses["lucid"][name], value, rtol=1e-5, atol=1e-6)
    losses["lucid"]["classification"].backward()  # the graph is whole
    assert model.backbone.body.conv_first[0].weight.grad is not None


def test_loss_with_a_negatives_floor_that_never_binds_is_torchvisions(tv_large):
    """lucid's own loss path (taken when min_negatives > 0) selects what torchvision's does while
    3 negatives per positive already exceed the floor."""
    model = lm.ssdlite320_mobilenet_v3_large(weights=tv_large.state_dict(), min_negatives=1)
    reference = tv_ssdlite(weights=None, weights_backbone=None, num_classes=91)
    reference.load_state_dict(tv_large.state_dict())
    targets = [{"boxes": torch.tensor([[10.0, 20.0, 200.0, 220.0]]), "labels": torch.tensor([5])}] * 2
    images = _images(2)
    losses = {key: net.train()(images, targets) for key, net in (("lucid", model), ("torchvision", reference))}
    for name, value in losses["torchvision"].items():
        torch.testing.assert_close(losses["lucid"][name], value, rtol=1e-5, atol=1e-6)


def _loss_inputs(anchors: int = 50, classes: int = 4) -> tuple[list, dict, list, list]:
    """compute_loss inputs for two photos: one box matched by anchors 0..2, and no box at all."""
    generator = torch.Generator().manual_seed(0)
    head = {
        "bbox_regression": torch.randn(2, anchors, 4, generator=generator),
        "cls_logits": torch.randn(2, anchors, classes, generator=generator),
    }
    boxes = torch.rand(2, anchors, 2, generator=generator) * 100
    anchor_boxes = [torch.cat([b, b + 20], dim=1) for b in boxes]
    targets = [
        {"boxes": torch.tensor([[5.0, 5.0, 30.0, 30.0]]), "labels": torch.tensor([2])},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},
    ]
    matched = [torch.full((anchors,), -1, dtype=torch.int64) for _ in range(2)]
    matched[0][:3] = 0
    return targets, head, anchor_boxes, matched


def test_negatives_floor_takes_the_hardest_background_anchors_of_every_photo():
    model = lm.ssdlite320_mobilenet_v3_large(num_classes=4)
    targets, head, anchors, matched = _loss_inputs()
    plain = model.compute_loss(targets, head, anchors, matched)
    model.min_negatives = 20
    floored = model.compute_loss(targets, head, anchors, matched)
    per_anchor = torch.nn.functional.cross_entropy(
        head["cls_logits"].flatten(0, 1), torch.zeros(100, dtype=torch.int64), reduction="none"
    ).view(2, 50)
    positive = torch.nn.functional.cross_entropy(head["cls_logits"][0, :3], torch.full((3,), 2))
    # photo 0: 3 positives, 9 negatives without the floor and 20 with it; photo 1: none, then 20
    expected_plain = (3 * positive + per_anchor[0, 3:].topk(9).values.sum()) / 3
    expected_floor = (3 * positive + per_anchor[0, 3:].topk(20).values.sum() + per_anchor[1].topk(20).values.sum()) / 3
    torch.testing.assert_close(plain["classification"], expected_plain)
    torch.testing.assert_close(floored["classification"], expected_floor)
    torch.testing.assert_close(floored["bbox_regression"], plain["bbox_regression"])


def test_negatives_floor_is_a_whole_number():
    with pytest.raises(ValueError, match="min_negatives must be a whole number >= 0, got -1"):
        lm.ssdlite320_mobilenet_v3_large(num_classes=4, min_negatives=-1)


def test_lucid_to_torchvision_and_back():
    torch.manual_seed(4)
    model = randomise_batchnorm(lm.ssdlite320_mobilenet_v3_large(num_classes=4), seed=4)
    reference = tv_ssdlite(weights=None, weights_backbone=None, num_classes=4)
    reference.load_state_dict(ssdlite_to_torchvision(model), strict=True)
    again = ssdlite_from_torchvision(reference.state_dict(), lm.ssdlite320_mobilenet_v3_large(num_classes=4))
    for key, value in model.state_dict().items():
        assert torch.equal(again[key], value), key


# --------------------------------------------------------------------------- export split


def test_eval_equals_postprocess_of_forward_raw(tv_large):
    model = lm.ssdlite320_mobilenet_v3_large(weights=tv_large.state_dict()).eval()
    images = _images(5)
    with torch.no_grad():
        expected = model(images)
        batch, sizes = model.preprocess(images)
        boxes, scores = model.forward_raw(batch)
    assert batch.shape == (2, 3, SIZE, SIZE) and sizes == [(SIZE, SIZE), (200, 300)]
    assert boxes.shape == (2, 3234, 4) and scores.shape == (2, 3234, 91)
    torch.testing.assert_close(scores.sum(-1), torch.ones(2, 3234))
    assert boxes.min() >= 0 and boxes.max() <= SIZE
    got = lm.postprocess_raw(boxes, scores, sizes, score_threshold=0.001, nms_threshold=0.55, topk=300)
    for ours, theirs in zip(got, expected, strict=True):
        assert all(torch.equal(ours[key], theirs[key]) for key in ("boxes", "scores", "labels"))
    # an (N, 3, H, W) tensor is a batch of images
    with torch.no_grad():
        stacked = model(torch.stack([images[0], images[0]]))
    assert torch.equal(stacked[1]["boxes"], expected[0]["boxes"])


def test_raw_pass_gives_eval_detections_and_torchvisions_training_loss_in_one_pass():
    """`SSDLite.raw_pass`, validation's single pass: its detections are eval mode's, its loss is the
    training path's (torchvision's SSD.forward with the BatchNorm statistics frozen), and the
    backbone runs once."""
    model = randomise_batchnorm(lm.ssdlite320_mobilenet_v3_small(num_classes=4), seed=9).eval()
    images = _images(9)
    targets = [
        {
            "boxes": torch.tensor([[10.0, 20.0, 120.0, 200.0], [150.0, 40.0, 300.0, 90.0]]),
            "labels": torch.tensor([1, 3]),
        },
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},  # a photo without boxes
    ]
    calls = []
    hook = model.backbone.register_forward_hook(lambda module, args, output: calls.append(1))
    with torch.no_grad():
        raw = model.raw_pass(images, targets)
        assert len(calls) == 1
        expected = model(images)
        model.train()
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        training_path = model(images, targets)
    hook.remove()
    assert set(raw.losses) == {"bbox_regression", "classification"}
    for key, value in training_path.items():
        torch.testing.assert_close(raw.losses[key], value)
    model.eval()
    assert model.validation_loss(images, targets).keys() == raw.losses.keys()
    assert raw.sizes == [(SIZE, SIZE), (200, 300)] and raw.batch.shape == (2, 3, SIZE, SIZE)
    for ours, theirs in zip(model.detections(raw), expected, strict=True):
        assert all(torch.equal(ours[key], theirs[key]) for key in ("boxes", "scores", "labels"))
    assert model.raw_pass(images).losses == {}


# --------------------------------------------------------------------------- weights and errors


def test_lucid_checkpoint_as_weights(tmp_path):
    model = randomise_batchnorm(lm.ssdlite320_mobilenet_v3_small(num_classes=3), seed=6)
    path = checkpoint.save(model, tmp_path / "det.safetensors")
    again = lm.ssdlite320_mobilenet_v3_small(weights=str(path))
    assert again.num_classes == 3
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values(), strict=True))


def test_bad_weights_are_refused(tmp_path, tv_large):
    pickled = tmp_path / "module.pth"
    torch.save(tv_large, pickled)  # a whole pickled module: loading it would run code
    with pytest.raises(CheckpointError, match=r"refused: the pickle holds Python objects.*weights_only=True"):
        lm.ssdlite320_mobilenet_v3_large(weights=str(pickled))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint .*: Unsupported operand"):
        lm.ssdlite320_mobilenet_v3_large(weights=str(garbage))
    with pytest.raises(CheckpointError, match="not an SSDLite state dict"):
        lm.ssdlite320_mobilenet_v3_large(weights=lm.mobilenet_v3_small().state_dict())
    with pytest.raises(CheckpointError, match="does not fit ssdlite320_mobilenet_v3_small"):
        lm.ssdlite320_mobilenet_v3_small(weights=tv_large.state_dict())
    with pytest.raises(ValueError, match="num_classes=5 but the weights' head has 91 classes"):
        lm.ssdlite320_mobilenet_v3_large(num_classes=5, weights=tv_large.state_dict())
    with pytest.raises(FileNotFoundError, match="no weights file"):
        lm.ssdlite320_mobilenet_v3_large(weights=str(tmp_path / "missing.pth"))


@pytest.mark.parametrize(
    "images, error, pattern",
    [
        ([torch.rand(1, 32, 32)], ValueError, r"\(3, H, W\) images, image 0 is \(1, 32, 32\)"),
        ([torch.zeros(3, 32, 32, dtype=torch.uint8)], TypeError, r"float images .* torch\.uint8"),
        (torch.rand(3, 32, 32), ValueError, r"an \(N, 3, H, W\) tensor, got shape \(3, 32, 32\)"),
        ([], TypeError, r"non-empty list"),
    ],
)
def test_bad_images_are_refused(images, error, pattern):
    model = lm.ssdlite320_mobilenet_v3_small(num_classes=3).eval()
    with pytest.raises(error, match=pattern):
        model(images)


def test_forward_raw_and_postprocess_raw_check_shapes():
    model = lm.ssdlite320_mobilenet_v3_small(num_classes=3).eval()
    with pytest.raises(ValueError, match=r"float \(N, 3, H, W\) batch"):
        model.forward_raw(torch.rand(3, SIZE, SIZE))
    with pytest.raises(ValueError, match=r"boxes \(N, A, 4\) and scores \(N, A, C\)"):
        lm.postprocess_raw(torch.zeros(1, 10, 4), torch.zeros(1, 9, 3), [(SIZE, SIZE)])
    with pytest.raises(ValueError, match="2 image sizes for a batch of 1"):
        lm.postprocess_raw(torch.zeros(1, 10, 4), torch.zeros(1, 10, 3), [(SIZE, SIZE)] * 2)


# --------------------------------------------------------------------------- tools


def test_summary_and_mermaid(capsys, tmp_path):
    assert main(["summary", "ssdlite320_mobilenet_v3_large", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    text = json.dumps(report)
    assert "3440060" in text.replace(",", "") and "backbone.body.conv_first.0" in text
    out = tmp_path / "chart.mmd"
    assert main(["mermaid", "ssdlite320_mobilenet_v3_small", "--out", str(out)]) == 0
    chart = out.read_text()
    assert chart.startswith("%%{init") and "SSDLiteFeatures" in chart and "(1,3,320,320)" in chart


def test_forward_raw_exports_to_onnx():
    import io
    import warnings

    import onnxruntime

    model = randomise_batchnorm(lm.ssdlite320_mobilenet_v3_small(num_classes=3), seed=8)

    class Raw(nn.Module):
        def __init__(self, detector: nn.Module) -> None:
            super().__init__()
            self.detector = detector

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.detector.forward_raw(x)

    x = torch.randn(1, 3, SIZE, SIZE)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Raw(model).eval(), (x,), buffer, dynamo=False)
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    boxes, scores = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        expected_boxes, expected_scores = model.forward_raw(x)
    torch.testing.assert_close(torch.from_numpy(boxes), expected_boxes, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(torch.from_numpy(scores), expected_scores, rtol=1e-5, atol=1e-6)


def test_under_bf16_autocast_the_boxes_and_scores_stay_float32():
    """Found: under bf16 autocast (the default on CUDA) torchvision made the default boxes in the
    maps' bf16, moving them by up to 0.5 px, decoded the boxes in bf16 (2 px steps at 320 px),
    and the test-time flip found no mirror order. CPU autocast reproduces it."""
    from lucid.models.ssdlite import MirroredSSD

    model = lm.ssdlite320_mobilenet_v3_small(num_classes=3).eval()
    batch = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        _, exact = model._head_and_anchors(batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            maps = [fmap.bfloat16() for fmap in model.backbone(batch).values()]
            anchors = model.anchor_generator(ImageList(batch, [(SIZE, SIZE)] * 2), maps)[0]
            raw = model.raw_pass(list(batch))
            detections = model(list(batch))
            order = MirroredSSD(model)._order(batch)
    assert anchors.dtype == torch.float32 and torch.equal(anchors, exact)
    assert raw.boxes.dtype == raw.scores.dtype == torch.float32
    assert detections[0]["boxes"].dtype == detections[0]["scores"].dtype == torch.float32
    assert order is not None  # each default box's mirror is found, so the flip averages box by box
    decoded = model.decode(
        torch.zeros(1, 1, 4, dtype=torch.bfloat16), torch.tensor([[300.5, 10.25, 311.0, 20.0]]), (SIZE, SIZE)
    )
    assert decoded.dtype == torch.float32 and decoded.tolist() == [[[300.5, 10.25, 311.0, 20.0]]]
