"""LR-ASPP segmentation on lucid's MobileNet-v3: the paper's decoder (section 6.3), as torchvision's.

The backbone is a lucid `MobileNet_V3` built ``dilated=True`` (output stride
16: the last stage's stride becomes a dilation). Its stem, blocks and ``conv_last`` are kept (the
view `as_features` gives), the classifier is not. The head
(`LRASPPHead`) is torchvision's ``LRASPPHead``:

* high level (``conv_last``, stride 16): a 1x1 conv-BN-ReLU branch, multiplied by a gate made of
  global average pooling, a 1x1 conv and a sigmoid;
* the product is upsampled to the low level (the output of the first block at stride 8) and
  the two 1x1 classifiers' outputs (``low_classifier`` on the low level, ``high_classifier`` on the
  gated features) are added, then upsampled bilinearly to the input size.

``model(x)`` returns the ``(N, num_classes, H, W)`` logits tensor (torchvision returns ``{"out": ...}``).

torchvision's state dicts (``backbone.{i}.*``, ``classifier.*``) convert both ways with
`lraspp_from_torchvision` / `lraspp_to_torchvision`; ``weights=`` accepts
torchvision's ``.pth`` (read with ``torch.load(weights_only=True)``), a lucid checkpoint, a state
dict of either kind, or the registered ``COCO_WITH_VOC_LABELS_V1`` (torchvision's file).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from lucid import checkpoint
from lucid.checkpoint import CheckpointError
from lucid.models.config import MobileNetV3Config
from lucid.models.convert import TorchvisionLayout, WeightsSource, source_pretrained_cfg, torchvision_backbone_pairs
from lucid.models.hub import register_weights
from lucid.models.model import MobileNet_V3, init_weights
from lucid.models.presets import preset_config
from lucid.models.registry import register_model
from lucid.models.weights_record import WeightsEnum, WholeImageWeights

__all__ = [
    "VOC_CATEGORIES",
    "LRASPP",
    "LRASPPHead",
    "SegmentationWeights",
    "LRASPP_MobileNet_V3_Large_Weights",
    "lraspp_mobilenet_v3_large",
    "lraspp_mobilenet_v3_small",
    "lraspp_from_torchvision",
    "lraspp_to_torchvision",
    "load_segmentation_model",
    "is_segmentation_checkpoint",
]

# Pascal VOC's 21 labels, in the order of torchvision's COCO_WITH_VOC_LABELS_V1 outputs.
VOC_CATEGORIES = (
    "__background__",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
SEGMENT_TASK = "segment"
# torchvision's head uses nn.BatchNorm2d's defaults (the backbone uses eps 1e-3, momentum 0.01).
HEAD_BN_EPS = 1e-5
DEFAULT_INTER_CHANNELS = 128
_BACKBONES = {"lraspp_mobilenet_v3_large": "mobilenet_v3_large", "lraspp_mobilenet_v3_small": "mobilenet_v3_small"}


class LRASPPHead(nn.Module):
    """Lite R-ASPP: gated 1x1 branch on the high level plus a 1x1 classifier on the low level."""

    def __init__(self, low_channels: int, high_channels: int, num_classes: int, inter_channels: int) -> None:
        super().__init__()
        self.cbr = nn.Sequential(
            nn.Conv2d(high_channels, inter_channels, 1, bias=False),
            nn.BatchNorm2d(inter_channels, eps=HEAD_BN_EPS),
            nn.ReLU(inplace=True),
        )
        self.scale = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(high_channels, inter_channels, 1, bias=False),
            nn.Sigmoid(),
        )
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1)
        self.high_classifier = nn.Conv2d(inter_channels, num_classes, 1)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        x = self.cbr(high) * self.scale(high)
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.low_classifier(low) + self.high_classifier(x)


def low_level_index(config: MobileNetV3Config) -> int:
    """Index of the first block whose output has stride 8: torchvision's low-level tap (its ``C2``)."""
    reduction = 2  # the stem
    for index, block in enumerate(config.layout().blocks):
        reduction *= block.conv_stride
        if reduction >= 8:
            return index
    raise ValueError(f"the backbone never reaches output stride 8 (its blocks: {len(config.layout().blocks)})")


class LRASPP(nn.Module):
    """LR-ASPP on a lucid MobileNet-v3 backbone; ``model(x)`` gives ``(N, num_classes, H, W)`` logits.

    ``config`` describes the backbone (``dilated=True`` for the paper's output stride 16;
    ``classifier`` is ignored) and carries ``num_classes``/``in_channels``, so deploy tools that
    read ``model.config`` see the segmentation outputs.
    """

    #: A key that only lucid's, and one that only torchvision's, state dict of the model has.
    format_keys = (("lucid", "head.cbr.0.weight"), ("torchvision", "classifier.cbr.0.weight"))

    def __init__(self, config: MobileNetV3Config, inter_channels: int = DEFAULT_INTER_CHANNELS) -> None:
        super().__init__()
        if not isinstance(config, MobileNetV3Config):
            raise TypeError(f"LRASPP expects a MobileNetV3Config, got {type(config).__name__}")
        if not isinstance(inter_channels, int) or isinstance(inter_channels, bool) or inter_channels < 1:
            raise ValueError(f"inter_channels must be a positive int, got {inter_channels!r}")
        self.config = config.replace(classifier=False)
        self.model_name = "lraspp"
        self.task = SEGMENT_TASK
        self.pretrained_cfg: dict | None = None
        self.checkpoint_extra: dict[str, Any] | None = None  # a loaded checkpoint's extra metadata
        self.num_classes = config.num_classes
        self.in_channels = config.in_channels
        self.inter_channels = inter_channels
        self.low_index = low_level_index(self.config)
        # Stem, every block and conv_last (the classification model's module names), tapped at
        # the low level's block output and at conv_last.
        self.backbone = MobileNet_V3(self.config).as_features(taps=[f"bottlenecks.{self.low_index}", "conv_last"])
        low_channels, high_channels = self.backbone.feature_info.channels()
        self.feature_info = [{**level, "module": f"backbone.{level['module']}"} for level in self.backbone.feature_info]
        self.head = LRASPPHead(low_channels, high_channels, config.num_classes, inter_channels)
        init_weights(self.head)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The low-level (stride 8) and high-level (stride 16 when dilated) feature maps."""
        low, high = self.backbone(x)
        return low, high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{self.model_name} expects (N, {self.in_channels}, H, W) input, got shape {tuple(x.shape)}"
            )
        low, high = self.forward_features(x)
        out = self.head(low, high)
        return F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)


# --------------------------------------------------------------------------------------------
# torchvision <-> lucid keys, derived from the lucid model's own structure
# --------------------------------------------------------------------------------------------


def _module_pairs(model: LRASPP) -> list[tuple[str, str]]:
    """(lucid module, torchvision module) pairs covering every tensor of the model."""
    last = f"backbone.{len(model.backbone.bottlenecks) + 1}"
    pairs = torchvision_backbone_pairs(
        model.backbone, "backbone.", "backbone.0", lambda i, j: f"backbone.{i + 1}.block.{j}", last
    )
    pairs += [
        (f"head.{m}", f"classifier.{m}") for m in ("cbr.0", "cbr.1", "scale.1", "low_classifier", "high_classifier")
    ]
    return pairs


# --------------------------------------------------------------------------------------------
# Registered weights
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SegmentationWeights(WholeImageWeights):
    """A published segmentation weights file: mIoU and pixel accuracy. ``resize_size`` is the
    short side the evaluation preprocessing resizes to."""

    miou: float = math.nan
    pixel_acc: float = math.nan

    def published_metrics(self) -> dict[str, float]:
        return {"miou": self.miou, "pixel_acc": self.pixel_acc}

    def transforms(self) -> Any:
        """torchvision's ``SemanticSegmentation`` preset: short side to ``resize_size``, normalise."""
        from torchvision.transforms import InterpolationMode, v2

        return v2.Compose(
            [
                v2.ToImage(),
                v2.Resize(self.resize_size, interpolation=InterpolationMode(self.interpolation), antialias=True),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(self.mean, self.std),
            ]
        )


class LRASPP_MobileNet_V3_Large_Weights(WeightsEnum):
    """torchvision's published LR-ASPP weights (COCO train2017, the 20 VOC categories + background)."""

    COCO_WITH_VOC_LABELS_V1 = SegmentationWeights(
        model_name="lraspp_mobilenet_v3_large",
        tag="COCO_WITH_VOC_LABELS_V1",
        url="https://download.pytorch.org/models/lraspp_mobilenet_v3_large-d234d4ea.pth",
        sha256_prefix="d234d4ea",
        num_params=3_221_538,
        gflops=2.086,
        file_size_mb=12.49,
        recipe="https://github.com/pytorch/vision/tree/main/references/segmentation#lraspp_mobilenet_v3_large",
        docs="torchvision's weights, trained on the subset of COCO with the 20 Pascal VOC categories.",
        dataset="COCO-val2017-VOC-labels",
        crop_size=520,
        resize_size=520,
        categories=VOC_CATEGORIES,
        miou=57.9,
        pixel_acc=91.2,
    )
    DEFAULT = COCO_WITH_VOC_LABELS_V1


register_weights("lraspp_mobilenet_v3_large", LRASPP_MobileNet_V3_Large_Weights)


# --------------------------------------------------------------------------------------------
# Reading weights
# --------------------------------------------------------------------------------------------


_CLASSIFIER_KEYS = (  # a head of another class count is replaced, not loaded
    "head.low_classifier.weight",
    "head.low_classifier.bias",
    "head.high_classifier.weight",
    "head.high_classifier.bias",
)


# The model in torchvision's layout: its weights reader and the two converters below.
_TORCHVISION = TorchvisionLayout(LRASPP, _module_pairs, LRASPP_MobileNet_V3_Large_Weights, _CLASSIFIER_KEYS)

lraspp_from_torchvision = _TORCHVISION.from_torchvision
"""A lucid state dict for an `LRASPP` from torchvision's ``lraspp_mobilenet_v3_*``; every key and shape is checked."""
lraspp_to_torchvision = _TORCHVISION.to_torchvision
"""torchvision's state dict of a lucid `LRASPP` (``torchvision.models.segmentation.LRASPP`` loads it)."""


def _head_classes(source: WeightsSource) -> int:
    key = "head.low_classifier.weight" if source.format == "lucid" else "classifier.low_classifier.weight"
    return int(source.state[key].shape[0])


def _stem_channels(source: WeightsSource) -> int:
    key = "backbone.conv_first.0.weight" if source.format == "lucid" else "backbone.0.0.weight"
    return int(source.state[key].shape[1])


def _fit_to(model: LRASPP, state: dict[str, torch.Tensor], origin: str) -> dict[str, torch.Tensor]:
    """Keep the model's fresh classifiers when the class count differs (with a warning); adapt a grey stem."""
    target = model.state_dict()
    stem = "backbone.conv_first.0.weight"
    if state[stem].shape[1] != target[stem].shape[1]:
        if target[stem].shape[1] != 1:
            raise CheckpointError(
                f"{origin}: the weights take {state[stem].shape[1]}-channel input, the model {target[stem].shape[1]}; "
                "only an RGB -> grey adaptation (in_channels=1) is supported"
            )
        state[stem] = state[stem].sum(dim=1, keepdim=True)  # grey image == RGB image of equal channels
    found = state[_CLASSIFIER_KEYS[0]].shape[0]
    if found != target[_CLASSIFIER_KEYS[0]].shape[0]:
        for key in _CLASSIFIER_KEYS:
            state[key] = target[key]
        warnings.warn(
            f"{origin}: the weights have {found} classes, the model {model.num_classes}: loaded everything "
            "except head.low_classifier/high_classifier, which are newly initialised (train them before use)",
            UserWarning,
            stacklevel=3,
        )
    return state


def load_into(model: LRASPP, weights: Any) -> LRASPP:
    """Load any accepted ``weights=`` value into ``model`` (checked in full before anything is copied)."""
    source = _TORCHVISION.resolve(weights, model.model_name)
    _TORCHVISION.load(model, source, _fit_to)
    base = {"task": SEGMENT_TASK, "num_classes": model.num_classes, "in_channels": model.in_channels}
    model.pretrained_cfg = source_pretrained_cfg(
        source, base, LRASPP_MobileNet_V3_Large_Weights, model.num_classes, ("resize_size", "mean", "std")
    )
    return model


# --------------------------------------------------------------------------------------------
# Factories
# --------------------------------------------------------------------------------------------


def _build(
    name: str,
    num_classes: int | None,
    weights: Any,
    in_channels: int | None,
    inter_channels: int,
    backbone_kwargs: dict[str, Any],
) -> LRASPP:
    source = _TORCHVISION.resolve(weights, name) if weights is not None else None
    if num_classes is None:
        num_classes = _head_classes(source) if source is not None else len(VOC_CATEGORIES)
    if in_channels is None:
        in_channels = _stem_channels(source) if source is not None else 3
    backbone_kwargs.setdefault("dilated", True)
    config = preset_config(_BACKBONES[name], num_classes=num_classes, in_channels=in_channels, **backbone_kwargs)
    model = LRASPP(config, inter_channels=inter_channels)
    model.model_name = name
    if source is not None:
        load_into(model, source)
    return model


@register_model(task="segment")
def lraspp_mobilenet_v3_large(
    num_classes: int | None = None,
    *,
    weights: Any = None,
    in_channels: int | None = None,
    inter_channels: int = DEFAULT_INTER_CHANNELS,
    **backbone_kwargs: Any,
) -> LRASPP:
    """LR-ASPP on MobileNet-v3 Large (dilated, output stride 16), torchvision's architecture.

    ``num_classes`` defaults to the weights' (21 VOC labels) or 21; ``weights``: ``"DEFAULT"``/
    ``"COCO_WITH_VOC_LABELS_V1"`` (torchvision's file, downloaded and hash-checked), a torchvision
    ``.pth`` or lucid checkpoint path, or a state dict. ``backbone_kwargs`` are
    `MobileNetV3Config` fields (``width_mult``, ``reduced_tail``,
    ``dilated`` (default True), ``bn_momentum`` ...).
    """
    return _build("lraspp_mobilenet_v3_large", num_classes, weights, in_channels, inter_channels, backbone_kwargs)


@register_model(task="segment")
def lraspp_mobilenet_v3_small(
    num_classes: int | None = None,
    *,
    weights: Any = None,
    in_channels: int | None = None,
    inter_channels: int = DEFAULT_INTER_CHANNELS,
    **backbone_kwargs: Any,
) -> LRASPP:
    """LR-ASPP on MobileNet-v3 Small (dilated, output stride 16); torchvision publishes no weights for it.

    Arguments as `lraspp_mobilenet_v3_large`; ``weights`` is a file or state dict.
    """
    return _build("lraspp_mobilenet_v3_small", num_classes, weights, in_channels, inter_channels, backbone_kwargs)


# --------------------------------------------------------------------------------------------
# lucid checkpoints of segmentation models
# --------------------------------------------------------------------------------------------


def is_segmentation_checkpoint(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a lucid checkpoint of an LR-ASPP model (so eval/predict go to lucid.segment)."""
    file = Path(path).expanduser()
    if not file.is_file():
        return False
    try:
        meta = checkpoint.read_metadata(file)
    except (CheckpointError, OSError, ValueError):
        return False
    extra = meta.get("extra") or {}
    return extra.get("task") == SEGMENT_TASK or str(meta.get("model_name") or "") in _BACKBONES


def load_segmentation_model(path: str | os.PathLike[str]) -> LRASPP:
    """Rebuild the LR-ASPP model a lucid checkpoint describes (eval mode), with its weights.

    ``model.checkpoint_extra`` holds the file's extra metadata (classes, ignore index, training data).
    """
    file = Path(path).expanduser()
    meta = checkpoint.read_metadata(file)
    name = meta.get("model_name")
    if name not in _BACKBONES or meta.get("config") is None:
        raise CheckpointError(
            f"{file}: not a lucid LR-ASPP checkpoint (model {name!r}); expected one of {sorted(_BACKBONES)}"
        )
    extra = meta.get("extra") or {}
    config = MobileNetV3Config.from_dict(meta["config"])
    model = LRASPP(config, inter_channels=int(extra.get("inter_channels", DEFAULT_INTER_CHANNELS)))
    model.model_name = name
    state = checkpoint.load(file)
    checkpoint.check_state_dict(model, state, source=str(file))
    model.load_state_dict(state)
    model.pretrained_cfg = meta.get("pretrained_cfg")
    model.checkpoint_extra = extra
    return model.eval()
