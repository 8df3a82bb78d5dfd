"""SSDLite320 detection on lucid's MobileNet-v3: torchvision's ``ssdlite320_mobilenet_v3_*``, one file.

The detector is torchvision's `SSD` (its resize to
320x320 and normalisation, default boxes from ``DefaultBoxGenerator``, ``BoxCoder``, the loss
with hard-negative mining, per-class score threshold, top-k and batched NMS) with:

* ``backbone`` (`SSDLiteFeatures`): a lucid `MobileNet_V3` (``body``:
  ``conv_first``, ``bottlenecks``, ``conv_last``, the classification model's names) tapped at the
  expansion of the last strided block (stride 16, section 6.3 of the MobileNet-v3 paper) and at
  ``conv_last`` (stride 32), then four ``extra`` blocks (``reduce``, ``depthwise``, ``project``)
  down to 1x1: six feature maps, as torchvision's ``SSDLiteFeatureExtractorMobileNet``;
* ``head``: torchvision's ``SSDLiteHead`` (depthwise 3x3 + 1x1 predictors per map).

The backbone is torchvision's: reduced tail (the last stage halved) and BatchNorm eps 1e-3,
momentum 0.03 throughout. Input: a list of ``(3, H, W)`` float images in [0, 1] (or one
``(N, 3, H, W)`` tensor); the model resizes them to 320x320 and normalises with mean = std = 0.5.

* train mode: ``model(images, targets)`` returns ``{"bbox_regression", "classification"}`` losses;
* eval mode: ``model(images)`` returns one ``{"boxes", "scores", "labels"}`` dict per image,
  boxes xyxy in the input image's pixels;
* export: `SSDLite.forward_raw` maps a resized, normalised ``(N, 3, 320, 320)`` batch to
  decoded boxes and class probabilities without NMS; `postprocess_raw` applies the eval
  mode's selection and NMS on the host, so ``model(images) == postprocess_raw(*forward_raw(...))``.

torchvision's state dicts convert both ways (`ssdlite_from_torchvision`,
`ssdlite_to_torchvision`); ``weights=`` takes torchvision's ``.pth``, a lucid checkpoint, a
state dict or the registered ``COCO_V1`` (torchvision's published file).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.ssd import SSD
from torchvision.models.detection.ssdlite import SSDLiteHead
from torchvision.models.detection.transform import resize_boxes
from torchvision.ops import batched_nms, box_iou, clip_boxes_to_image

from lucid.checkpoint import CheckpointError
from lucid.models.config import MobileNetV3Config
from lucid.models.convert import TorchvisionLayout, WeightsSource, source_pretrained_cfg, torchvision_backbone_pairs
from lucid.models.hub import register_weights
from lucid.models.model import MobileNet_V3
from lucid.models.presets import preset_config
from lucid.models.registry import register_model
from lucid.models.weights_record import WeightsEnum, WholeImageWeights
from lucid.preprocessing import MAX_IMAGE_SIZE

__all__ = [
    "ANCHOR_SCALES",
    "COCO_CATEGORIES",
    "check_anchor_scales",
    "fit_anchor_scales",
    "SSDLITE_SIZE",
    "SSDLITE_MEAN",
    "SSDLITE_STD",
    "SSDLite",
    "SSDLiteFeatures",
    "Float32DefaultBoxes",
    "class_probabilities",
    "DetectionWeights",
    "SSDLite320_MobileNet_V3_Large_Weights",
    "ssdlite320_mobilenet_v3_large",
    "ssdlite320_mobilenet_v3_small",
    "ssdlite_from_torchvision",
    "ssdlite_to_torchvision",
    "postprocess_raw",
    "select_detections",
    "MirroredSSD",
    "RawPass",
    "mirror_boxes",
    "mirror_order",
    "c4_index",
]

# COCO's 91 category ids in torchvision's output order: index 0 is the background, "N/A" are the
# ids COCO left unused.
COCO_CATEGORIES = (
    "__background__", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "N/A", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
    "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "N/A", "backpack", "umbrella", "N/A",
    "N/A", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat",
    "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "N/A", "wine glass", "cup", "fork",
    "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza",
    "donut", "cake", "chair", "couch", "potted plant", "bed", "N/A", "dining table", "N/A", "N/A",
    "toilet", "N/A", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven",
    "toaster", "sink", "refrigerator", "N/A", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
    "toothbrush",
)  # fmt: skip
DETECT_TASK = "detect"
SSDLITE_SIZE = 320
# torchvision's SSDLite maps [0, 1] to [-1, 1].
SSDLITE_MEAN = (0.5, 0.5, 0.5)
SSDLITE_STD = (0.5, 0.5, 0.5)
# torchvision's norm_layer for the whole SSDLite model (backbone, extra blocks and head).
BN_EPS = 1e-3
BN_MOMENTUM = 0.03
# torchvision's SSDLite320 defaults for postprocessing.
SCORE_THRESH = 0.001
NMS_THRESH = 0.55
DETECTIONS_PER_IMG = 300
TOPK_CANDIDATES = 300
EXTRA_DEPTHS = (512, 256, 256, 128)
# The default boxes' smallest and largest side, as a share of the 320-pixel input: torchvision's
# (and the paper's) 0.2 and 0.95. `fit_anchor_scales` fits them to a data set's boxes.
ANCHOR_SCALES = (0.2, 0.95)
ANCHORS_PER_LOCATION = 6  # DefaultBoxGenerator with aspect ratios [2, 3]: 2 + 2 * 2 boxes per cell
_BACKBONES = {
    "ssdlite320_mobilenet_v3_large": "mobilenet_v3_large",
    "ssdlite320_mobilenet_v3_small": "mobilenet_v3_small",
}


def check_anchor_scales(scales: Any) -> tuple[float, float]:
    """``(smallest, largest)`` default-box side as a share of the input, 0 < smallest < largest <= 1."""
    try:
        low, high = (float(v) for v in scales)
    except (TypeError, ValueError):
        raise ValueError(f"anchor_scales must be two numbers (smallest, largest), got {scales!r}") from None
    if not 0.0 < low < high <= 1.0:
        raise ValueError(f"anchor_scales must satisfy 0 < smallest < largest <= 1, got {scales!r}")
    return round(low, 4), round(high, 4)


def fit_anchor_scales(sides: torch.Tensor) -> tuple[float, float]:
    """Default-box scales for boxes whose sides (the square root of each box's area, as a share of
    the square input) are ``sides``: the smallest at the 5th percentile (0.04 to 0.2, torchvision's
    0.2 being the most), the largest at 1.5x the 99th percentile (at least 3x the smallest, at most
    0.95).

    Why: SSD matches each box to default boxes by IoU >= 0.5. torchvision's smallest default box
    is 64 pixels of the 320 input; a 20-pixel object (BCCD's platelets) overlaps it at IoU 0.1,
    so it is learnt from one forced match and is found at AP ~0. Ultralytics fits its anchors to
    the data the same way (autoanchor). Anchors hold no weights: a model trained from scratch may
    take any scales, and the checkpoint records them."""
    if sides.numel() == 0:
        return ANCHOR_SCALES
    low = min(max(float(torch.quantile(sides, 0.05)), 0.04), ANCHOR_SCALES[0])
    high = min(max(1.5 * float(torch.quantile(sides, 0.99)), 3 * low), ANCHOR_SCALES[1])
    return check_anchor_scales((low, high))


def normal_init(module: nn.Module) -> None:
    """torchvision's SSDLite initialisation of convolutions: normal(0, 0.03), zero bias."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.normal_(layer.weight, mean=0.0, std=0.03)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def _conv_bn_relu6(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    """conv (no bias) -> BatchNorm -> ReLU6; depthwise when the channels are equal and the kernel 3x3."""
    groups = in_channels if kernel_size > 1 and in_channels == out_channels else 1
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM),
        nn.ReLU6(inplace=True),
    )


def extra_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """One extra layer (MobileNet-v2 paper, 6.2): 1x1 to half width, 3x3 depthwise stride 2, 1x1 out."""
    mid = out_channels // 2
    return nn.Sequential(
        OrderedDict(
            reduce=_conv_bn_relu6(in_channels, mid, 1),
            depthwise=_conv_bn_relu6(mid, mid, 3, stride=2),
            project=_conv_bn_relu6(mid, out_channels, 1),
        )
    )


def c4_index(config: MobileNetV3Config) -> int:
    """The block whose expansion gives the stride-16 map: the last strided block (torchvision's C4)."""
    strided = [index for index, block in enumerate(config.layout().blocks) if block.stride > 1]
    if not strided:
        raise ValueError("SSDLite needs a backbone with a strided block; bottleneck_cfg has none")
    return strided[-1]


class SSDLiteFeatures(nn.Module):
    """The six SSDLite feature maps: the body's two taps, then four extra blocks halving the size.

    ``body`` keeps the MobileNet-v3 module names (``conv_first``, ``bottlenecks``, ``conv_last``);
    ``out_channels`` lists each map's width. ``forward`` returns ``{"0": map, ..., "5": map}``
    (torchvision's SSD takes a dict of maps).
    """

    def __init__(self, model: MobileNet_V3, width_mult: float = 1.0, min_depth: int = 16) -> None:
        super().__init__()
        c4 = c4_index(model.config)
        if model.bottlenecks[c4].use_residual:
            raise ValueError(f"block {c4} adds its input; SSDLite's stride-16 tap needs a block without residual")
        self.body = model.as_features(taps=[f"bottlenecks.{c4}.residual.0", "conv_last"])
        depths = [max(min_depth, int(d * width_mult)) for d in EXTRA_DEPTHS]
        widths = [self.body.feature_info.channels(-1), *depths]
        self.extra = nn.ModuleList(extra_block(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.out_channels = [*self.body.feature_info.channels(), *depths]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        maps = self.body(x)
        x = maps[-1]
        for block in self.extra:
            x = block(x)
            maps.append(x)
        return OrderedDict((str(index), value) for index, value in enumerate(maps))


# --------------------------------------------------------------------------------------------
# Postprocessing, shared by eval mode and the export path
# --------------------------------------------------------------------------------------------


def select_detections(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    *,
    score_threshold: float = SCORE_THRESH,
    nms_threshold: float = NMS_THRESH,
    topk: int = TOPK_CANDIDATES,
    detections_per_image: int = DETECTIONS_PER_IMG,
) -> dict[str, torch.Tensor]:
    """One image's detections from ``boxes (A, 4)`` and class probabilities ``scores (A, C)``.

    Per foreground class: the anchors scoring above ``score_threshold``, the ``topk`` best of
    them; then NMS per class (``torchvision.ops.batched_nms``) and the ``detections_per_image``
    best. This is torchvision's ``SSD.postprocess_detections`` after decoding, written out here
    because torchvision's method decodes and selects in one step from the head's logits, and an
    exported model hands over decoded boxes and probabilities instead.
    """
    # One topk over every class column instead of torchvision's Python loop over the classes (91
    # small topk calls for COCO): the same candidates in the same class-major order, in one call.
    foreground = scores[:, 1:]
    top, anchor = foreground.topk(min(topk, foreground.shape[0]), dim=0)
    top, anchor = top.T, anchor.T  # (classes, k): class-major, each class's best first
    keep = top > score_threshold
    labels = torch.arange(1, scores.shape[-1], device=scores.device).unsqueeze(1).expand_as(top)
    all_scores, all_labels, all_boxes = top[keep], labels[keep], boxes[anchor[keep]]
    kept = batched_nms(all_boxes, all_scores, all_labels, nms_threshold)[:detections_per_image]
    return {"boxes": all_boxes[kept], "scores": all_scores[kept], "labels": all_labels[kept]}


def postprocess_raw(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    image_sizes: Sequence[tuple[int, int]],
    *,
    input_size: tuple[int, int] = (SSDLITE_SIZE, SSDLITE_SIZE),
    score_threshold: float = SCORE_THRESH,
    nms_threshold: float = NMS_THRESH,
    topk: int = TOPK_CANDIDATES,
    detections_per_image: int = DETECTIONS_PER_IMG,
) -> list[dict[str, torch.Tensor]]:
    """`SSDLite.forward_raw`'s ``(boxes, scores)`` to eval mode's detections.

    ``image_sizes`` are the original ``(H, W)`` of each image: the boxes (in ``input_size``
    pixels) are scaled back to them, as the model's own transform does.
    """
    if boxes.dim() != 3 or boxes.shape[-1] != 4 or scores.dim() != 3 or scores.shape[:2] != boxes.shape[:2]:
        raise ValueError(
            f"postprocess_raw expects boxes (N, A, 4) and scores (N, A, C); got {tuple(boxes.shape)} and "
            f"{tuple(scores.shape)}"
        )
    if len(image_sizes) != boxes.shape[0]:
        raise ValueError(f"postprocess_raw got {len(image_sizes)} image sizes for a batch of {boxes.shape[0]}")
    results = []
    for image_boxes, image_scores, size in zip(boxes, scores, image_sizes, strict=True):
        found = select_detections(
            image_boxes,
            image_scores,
            score_threshold=score_threshold,
            nms_threshold=nms_threshold,
            topk=topk,
            detections_per_image=detections_per_image,
        )
        found["boxes"] = resize_boxes(found["boxes"], list(input_size), [int(size[0]), int(size[1])])
        results.append(found)
    return results


def mirror_boxes(boxes: torch.Tensor, width: float) -> torch.Tensor:
    """xyxy ``boxes`` (any leading shape) mirrored left-right in an image ``width`` pixels wide."""
    return torch.stack((width - boxes[..., 2], boxes[..., 1], width - boxes[..., 0], boxes[..., 3]), dim=-1)


class Float32DefaultBoxes(DefaultBoxGenerator):
    """torchvision's `DefaultBoxGenerator`, whose default boxes are always float32.

    torchvision makes them in the feature maps' dtype, and under bf16 autocast (lucid's default on
    CUDA) that moves them by up to 0.5 px at 320 px: training would then match and encode against other
    boxes than evaluation and every export use, and the test-time flip would not find each box's
    mirror (`mirror_order`). The boxes depend only on the maps' sizes, so a float32 stand-in of
    each map's first channel is enough. In fp32 this is torchvision's computation unchanged."""

    def forward(self, image_list: ImageList, feature_maps: list[torch.Tensor]) -> list[torch.Tensor]:
        return super().forward(image_list, [fmap[:1, :1].float() for fmap in feature_maps])


def class_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """The softmax of the head's class ``logits`` in float32 (bf16 probabilities, under autocast,
    tie and reorder the candidates NMS keeps)."""
    return F.softmax(logits.float(), dim=-1)


def mirror_order(anchors: torch.Tensor, width: float) -> torch.Tensor | None:
    """For each default box of ``anchors`` (``(A, 4)`` xyxy), the index of its mirror image among
    them, or None when the set is not mirror-symmetric. SSD's grids of default boxes are (cell
    centres at ``(j + 0.5) / f``), so the mirror of a photo puts each box's evidence on its mirror
    box. Boxes are matched to 1/64 of a pixel."""
    keys = torch.cat((anchors, mirror_boxes(anchors, width))).mul(64).round().long()
    _, group = torch.unique(keys, dim=0, return_inverse=True)
    count = anchors.shape[0]
    index_of = torch.full((int(group.max()) + 1,), -1, dtype=torch.long, device=anchors.device)
    index_of[group[:count]] = torch.arange(count, device=anchors.device)
    order = index_of[group[count:]]
    return None if bool((order < 0).any()) else order


class RawPass(NamedTuple):
    """One pass of an `SSDLite` over a batch (`SSDLite.raw_pass`): what eval mode's selection, the
    test-time flip and the validation loss each take from it."""

    batch: torch.Tensor  # the resized, normalised input forward_raw took
    sizes: list[tuple[int, int]]  # each image's own (H, W), to which the boxes are scaled back
    boxes: torch.Tensor  # (N, A, 4) every default box's decoded box, xyxy in the input's pixels
    scores: torch.Tensor  # (N, A, C) class probabilities, column 0 the background
    losses: dict[str, torch.Tensor]  # the SSD loss of the pass's targets; empty without targets


class MirroredSSD(nn.Module):
    """An `SSDLite`'s detections from each photo and its left-right mirror (test-time flip).

    Both passes go through `SSDLite.forward_raw`; the mirror's boxes are mirrored back. Each
    default box then takes the mean of its class probabilities and of its decoded box over the two
    passes (its own, and its mirror box's in the mirrored photo), and the usual selection and NMS
    (`SSDLite.postprocess_raw`) run once on the result, so one object gives one set of candidates
    rather than two near-duplicates for NMS to choose from. Default boxes that are not
    mirror-symmetric (another anchor generator) have no partner: both passes' candidates then go
    to NMS together. Takes what eval mode takes and returns what it returns.
    """

    def __init__(self, model: SSDLite) -> None:
        super().__init__()
        if not isinstance(model, SSDLite):
            raise TypeError(f"MirroredSSD wraps an SSDLite detector, got {type(model).__name__}")
        self.model = model
        self._orders: dict[tuple[int, int, str], torch.Tensor | None] = {}

    def forward(self, images: Any) -> list[dict[str, torch.Tensor]]:
        return self.detections(self.model.raw_pass(images))

    def detections(self, raw: RawPass) -> list[dict[str, torch.Tensor]]:
        """The merged detections of the photos of ``raw`` (`SSDLite.raw_pass`, their own pass) and
        of their mirror, whose pass runs here."""
        batch, boxes, scores = raw.batch, raw.boxes, raw.scores
        mirror_boxes_, mirror_scores = self.model.forward_raw(batch.flip(-1))
        mirror_boxes_ = mirror_boxes(mirror_boxes_, batch.shape[-1])
        order = self._order(batch)
        if order is not None:
            boxes = (boxes + mirror_boxes_[:, order]) / 2
            scores = (scores + mirror_scores[:, order]) / 2
        else:
            boxes, scores = torch.cat((boxes, mirror_boxes_), 1), torch.cat((scores, mirror_scores), 1)
        return self.model.postprocess_raw(boxes, scores, raw.sizes)

    def _order(self, batch: torch.Tensor) -> torch.Tensor | None:
        """`mirror_order` of the default boxes at ``batch``'s size (computed once per size)."""
        size = (int(batch.shape[-2]), int(batch.shape[-1]))
        key = (*size, str(batch.device))
        if key not in self._orders:
            maps = list(self.model.backbone(batch[:1]).values())
            anchors = self.model.anchor_generator(ImageList(batch[:1], [size]), maps)[0]
            self._orders[key] = mirror_order(anchors, size[1])
        return self._orders[key]


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


def detection_config(backbone: str, **kwargs: Any) -> MobileNetV3Config:
    """The backbone config of torchvision's SSDLite: reduced tail, BN eps 1e-3 and momentum 0.03."""
    kwargs.setdefault("reduced_tail", True)
    kwargs.setdefault("bn_eps", BN_EPS)
    kwargs.setdefault("bn_momentum", BN_MOMENTUM)
    return preset_config(backbone, classifier=False, **kwargs)


class SSDLite(SSD):
    """SSDLite320 on a lucid MobileNet-v3 (torchvision's ``SSD`` with lucid's backbone module).

    ``config`` describes the backbone (its ``num_classes``, set to the detector's, includes the
    background); ``num_classes`` is the classification head's width. ``pretrained_cfg`` records the
    preprocessing (320x320, mean = std = 0.5) and, once weights are loaded, their categories.
    ``min_negatives`` (training only) is the least number of hard background anchors each photo
    contributes to the classification loss; 0 is torchvision's loss exactly (see `compute_loss`).
    """

    #: A key that only lucid's, and one that only torchvision's, state dict of the model has.
    format_keys = (("lucid", "backbone.body.conv_first.0.weight"), ("torchvision", "backbone.features.0.0.0.weight"))

    def __init__(
        self,
        config: MobileNetV3Config,
        num_classes: int = len(COCO_CATEGORIES),
        *,
        model_name: str = "ssdlite320",
        score_thresh: float = SCORE_THRESH,
        nms_thresh: float = NMS_THRESH,
        detections_per_img: int = DETECTIONS_PER_IMG,
        topk_candidates: int = TOPK_CANDIDATES,
        anchor_scales: tuple[float, float] = ANCHOR_SCALES,
        min_negatives: int = 0,
        image_size: int = SSDLITE_SIZE,
        **ssd_kwargs: Any,
    ) -> None:
        if not isinstance(config, MobileNetV3Config):
            raise TypeError(f"SSDLite expects a MobileNetV3Config, got {type(config).__name__}")
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2 (the background is class 0), got {num_classes!r}")
        if config.in_channels != 3:
            raise ValueError(f"SSDLite takes RGB images (in_channels=3), got in_channels={config.in_channels}")
        if isinstance(min_negatives, bool) or not isinstance(min_negatives, int) or min_negatives < 0:
            raise ValueError(f"min_negatives must be a whole number >= 0, got {min_negatives!r}")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or not 32 <= image_size <= MAX_IMAGE_SIZE:
            raise ValueError(f"image_size must be a whole number of pixels 32..{MAX_IMAGE_SIZE}, got {image_size!r}")
        config = config.replace(num_classes=num_classes, classifier=False)
        backbone = SSDLiteFeatures(MobileNet_V3(config, model_name=model_name))
        low, high = check_anchor_scales(anchor_scales)
        anchors = Float32DefaultBoxes([[2, 3] for _ in backbone.out_channels], min_ratio=low, max_ratio=high)
        norm = partial(nn.BatchNorm2d, eps=BN_EPS, momentum=BN_MOMENTUM)
        head = SSDLiteHead(backbone.out_channels, anchors.num_anchors_per_location(), num_classes, norm)
        super().__init__(
            backbone,
            anchors,
            (image_size, image_size),
            num_classes,
            image_mean=list(SSDLITE_MEAN),
            image_std=list(SSDLITE_STD),
            head=head,
            score_thresh=score_thresh,
            nms_thresh=nms_thresh,
            detections_per_img=detections_per_img,
            topk_candidates=topk_candidates,
            **ssd_kwargs,
        )
        normal_init(self.backbone)  # torchvision's initialisation without pretrained backbone
        self.config = config
        self.model_name = model_name
        self.task = DETECT_TASK
        self.anchor_scales = (low, high)
        self.min_negatives = min_negatives
        self.image_size = image_size
        self.num_classes = num_classes
        self.in_channels = 3
        self.checkpoint_extra: dict[str, Any] | None = None
        self.pretrained_cfg: dict[str, Any] | None = preprocessing_cfg(num_classes, image_size)

    @torch.jit.unused
    def forward(self, images: Any, targets: list[dict[str, torch.Tensor]] | None = None) -> Any:
        """Train mode: the loss dict for ``targets``; eval mode: one detections dict per image."""
        return super().forward(_image_list(images), targets)

    @torch.jit.unused
    @torch.no_grad()
    def validation_loss(self, images: Any, targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """The training loss of ``targets`` computed in the current mode (eval: BatchNorm uses its
        running statistics and nothing is updated), for a validation loss beside the mAP
        (`raw_pass`'s ``losses``)."""
        return self.raw_pass(images, targets).losses

    @torch.jit.unused
    @torch.no_grad()
    def raw_pass(self, images: Any, targets: list[dict[str, torch.Tensor]] | None = None) -> RawPass:
        """One pass of the network over ``images`` (what eval mode takes), without gradients:
        `forward_raw`'s boxes and class probabilities, and with ``targets`` also their training
        loss in the current mode.

        Validation needs both of a batch; one pass gives both, where `validation_loss` and then
        eval mode would run the network twice. The loss follows torchvision's SSD training path
        (transform, anchors, matcher, `compute_loss`); ``detections(raw_pass(images))`` equals
        ``model(images)`` in eval mode.
        """
        batch, sizes, targets = self._transformed(images, targets)
        head, anchors = self._head_and_anchors(batch)
        size = (int(batch.shape[-2]), int(batch.shape[-1]))
        boxes = self.decode(head["bbox_regression"], anchors, size)
        scores = class_probabilities(head["cls_logits"])
        losses: dict[str, torch.Tensor] = {}
        if targets is not None:
            matched = [self._matches(target["boxes"], anchors) for target in targets]
            losses = self.compute_loss(targets, head, [anchors] * len(targets), matched)
        return RawPass(batch, sizes, boxes, scores, losses)

    def _matches(self, boxes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        """Each default box's ground-truth box index (-1: background), as torchvision's SSD matches."""
        if boxes.numel() == 0:
            return torch.full((anchors.size(0),), -1, dtype=torch.int64, device=anchors.device)
        return self.proposal_matcher(box_iou(boxes, anchors))

    def detections(self, raw: RawPass) -> list[dict[str, torch.Tensor]]:
        """Eval mode's detections from a `raw_pass`: selection and NMS, boxes in each image's pixels."""
        return self.postprocess_raw(raw.boxes, raw.scores, raw.sizes)

    def compute_loss(
        self,
        targets: list[dict[str, torch.Tensor]],
        head_outputs: dict[str, torch.Tensor],
        anchors: list[torch.Tensor],
        matched_idxs: list[torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """SSD's loss with a floor on the hard negatives: each photo's classification loss takes its
        ``max(neg_to_pos_ratio * positives, min_negatives)`` highest-loss background anchors.

        torchvision (like the paper) takes 3 negatives per positive anchor and nothing more, so a
        photo with one small object teaches the background through a handful of anchors and a photo
        without boxes through none; on sparse small-object sets the scores then never separate
        objects from background. With ``min_negatives`` 0 this is torchvision's `SSD.compute_loss`.
        Both terms are divided by the batch's positive anchors, as there.
        """
        if self.min_negatives == 0:
            return super().compute_loss(targets, head_outputs, anchors, matched_idxs)
        box_losses, class_targets = [], []
        for target, regression, anchors_per_image, matched in zip(
            targets, head_outputs["bbox_regression"], anchors, matched_idxs, strict=True
        ):
            positive = torch.where(matched >= 0)[0]
            owner = matched[positive]
            wanted = self.box_coder.encode_single(target["boxes"][owner], anchors_per_image[positive])
            box_losses.append(F.smooth_l1_loss(regression[positive], wanted, reduction="sum"))
            labels = torch.zeros_like(matched)
            labels[positive] = target["labels"][owner].to(labels.dtype)
            class_targets.append(labels)
        labels = torch.stack(class_targets)
        logits = head_outputs["cls_logits"]
        losses = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none").view_as(labels)
        foreground = labels > 0
        positives = foreground.sum(1, keepdim=True)
        negatives = (self.neg_to_pos_ratio * positives).clamp(min=self.min_negatives)
        rank = losses.masked_fill(foreground, -math.inf).argsort(1, descending=True).argsort(1)
        background = (rank < negatives) & ~foreground
        count = max(1, int(positives.sum()))
        return {
            "bbox_regression": torch.stack(box_losses).sum() / count,
            "classification": (losses[foreground].sum() + losses[background].sum()) / count,
        }

    def decode(self, bbox_regression: torch.Tensor, anchors: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
        """Boxes ``(N, A, 4)`` xyxy, clipped to ``image_size``, from the head's offsets and the anchors.

        The whole batch is decoded in one call (``anchors`` ``(A, 4)`` or ``(N, A, 4)``), so eval mode
        and `forward_raw` compute exactly the same numbers.
        """
        n, count = bbox_regression.shape[:2]
        # In float32 under autocast too: BoxCoder decodes in the offsets' dtype, and bf16 boxes
        # step by 2 px at 320 px (a no-op in fp32).
        bbox_regression, anchors = bbox_regression.float(), anchors.float()
        anchors = anchors.expand(n, count, 4).reshape(-1, 4)
        boxes = self.box_coder.decode_single(bbox_regression.reshape(-1, 4), anchors).reshape(n, count, 4)
        return clip_boxes_to_image(boxes, image_size)

    def forward_raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Export path: a resized, normalised ``(N, 3, S, S)`` batch (S the model's ``image_size``, 320
        by default) to ``(boxes, scores)``.

        ``boxes`` ``(N, A, 4)``: every anchor's decoded box, xyxy in the input's pixels, clipped to
        it; ``scores`` ``(N, A, num_classes)``: softmax probabilities (column 0 the background).
        No thresholds, top-k or NMS: `postprocess_raw` does them on the host.
        """
        if x.dim() != 4 or x.shape[1] != 3 or not x.is_floating_point():
            raise ValueError(f"forward_raw expects a float (N, 3, H, W) batch, got {x.dtype} {tuple(x.shape)}")
        head, anchors = self._head_and_anchors(x)
        size = (int(x.shape[-2]), int(x.shape[-1]))
        return self.decode(head["bbox_regression"], anchors, size), class_probabilities(head["cls_logits"])

    def _head_and_anchors(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The head's outputs for the batch ``x`` and its default boxes ``(A, 4)`` (every image of a
        batch has the same size, so the same default boxes)."""
        maps = list(self.backbone(x).values())
        size = (int(x.shape[-2]), int(x.shape[-1]))
        return self.head(maps), self.anchor_generator(ImageList(x, [size] * x.shape[0]), maps)[0]

    def postprocess_detections(
        self,
        head_outputs: dict[str, torch.Tensor],
        image_anchors: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> list[dict[str, torch.Tensor]]:
        """Eval mode's selection, through the same `decode` and `select_detections` as export."""
        scores = class_probabilities(head_outputs["cls_logits"])
        anchors = torch.stack(image_anchors)
        boxes = self.decode(head_outputs["bbox_regression"], anchors, image_shapes[0])
        if any(shape != image_shapes[0] for shape in image_shapes):  # not with SSD's fixed size; kept exact
            boxes = torch.stack([clip_boxes_to_image(b, s) for b, s in zip(boxes, image_shapes, strict=True)])
        return [
            select_detections(
                image_boxes,
                image_scores,
                score_threshold=self.score_thresh,
                nms_threshold=self.nms_thresh,
                topk=self.topk_candidates,
                detections_per_image=self.detections_per_img,
            )
            for image_boxes, image_scores in zip(boxes, scores, strict=True)
        ]

    def postprocess_raw(
        self, boxes: torch.Tensor, scores: torch.Tensor, image_sizes: Sequence[tuple[int, int]]
    ) -> list[dict[str, torch.Tensor]]:
        """`postprocess_raw` with this model's thresholds and input size."""
        return postprocess_raw(
            boxes,
            scores,
            image_sizes,
            input_size=(self.image_size, self.image_size),
            score_threshold=self.score_thresh,
            nms_threshold=self.nms_thresh,
            topk=self.topk_candidates,
            detections_per_image=self.detections_per_img,
        )

    def preprocess(self, images: Any) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """Images as eval mode takes them -> ``(batch for forward_raw, original (H, W) sizes)``."""
        batch, sizes, _ = self._transformed(images, None)
        return batch, sizes

    def _transformed(
        self, images: Any, targets: list[dict[str, torch.Tensor]] | None
    ) -> tuple[torch.Tensor, list[tuple[int, int]], list[dict[str, torch.Tensor]] | None]:
        """The model's resize and normalisation of ``images`` (and ``targets``' boxes with them),
        with each image's original ``(H, W)``."""
        images = _image_list(images)
        sizes = [(int(image.shape[-2]), int(image.shape[-1])) for image in images]
        resized, targets = self.transform(images, targets)
        return resized.tensors, sizes, targets


def _image_list(images: Any) -> list[torch.Tensor]:
    """A list of ``(3, H, W)`` float images, from such a list or one ``(N, 3, H, W)`` tensor; checked."""
    if isinstance(images, torch.Tensor):
        if images.dim() != 4:
            raise ValueError(
                f"SSDLite expects a list of (3, H, W) images or an (N, 3, H, W) tensor, got shape {tuple(images.shape)}"
            )
        images = list(images)
    if not isinstance(images, (list, tuple)) or not images:
        raise TypeError(f"SSDLite expects a non-empty list of (3, H, W) float images, got {type(images).__name__}")
    for index, image in enumerate(images):
        if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] != 3:
            shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            raise ValueError(f"SSDLite expects (3, H, W) images, image {index} is {shape}")
        if not image.is_floating_point():
            raise TypeError(f"SSDLite expects float images in [0, 1], image {index} has dtype {image.dtype}")
    return list(images)


def preprocessing_cfg(num_classes: int, image_size: int = SSDLITE_SIZE) -> dict[str, Any]:
    """The preprocessing record every SSDLite carries: the whole photo resized to its square input
    (320x320 unless built for another size; no crop), mean = std = 0.5."""
    return {
        "task": DETECT_TASK,
        "num_classes": num_classes,
        "in_channels": 3,
        "input_size": (3, image_size, image_size),
        "image_size": (image_size, image_size),
        "resize_size": image_size,
        "crop_size": None,
        "interpolation": "bilinear",
        "mean": list(SSDLITE_MEAN),
        "std": list(SSDLITE_STD),
        "categories": None,
    }


# --------------------------------------------------------------------------------------------
# torchvision <-> lucid keys, derived from the lucid model's own structure
# --------------------------------------------------------------------------------------------


def _torchvision_block_stage(block: int, stage: int, c4: int) -> str:
    """torchvision's module of stage ``stage`` of lucid block ``block`` (features split at C4's expansion)."""
    if block < c4:
        return f"backbone.features.0.{block + 1}.block.{stage}"
    if block == c4:
        # torchvision slices the block (block[1:] keeps the stage numbers) into the second part.
        return f"backbone.features.0.{block + 1}" if stage == 0 else f"backbone.features.1.0.{stage}"
    return f"backbone.features.1.{block - c4}.block.{stage}"


def _module_pairs(model: SSDLite) -> list[tuple[str, str]]:
    """(lucid module, torchvision module) pairs covering every tensor of the model."""
    body = model.backbone.body
    c4 = c4_index(model.config)
    last = f"backbone.features.1.{len(body.bottlenecks) - c4}"
    pairs = torchvision_backbone_pairs(
        body, "backbone.body.", "backbone.features.0.0", lambda i, j: _torchvision_block_stage(i, j, c4), last
    )
    for k, block in enumerate(model.backbone.extra):
        for j, (name, _) in enumerate(block.named_children()):
            pairs += [(f"backbone.extra.{k}.{name}.{s}", f"backbone.extra.{k}.{j}.{s}") for s in ("0", "1")]
    pairs.append(("head", "head"))  # torchvision's own SSDLiteHead: the same names
    return pairs


# --------------------------------------------------------------------------------------------
# Registered weights
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DetectionWeights(WholeImageWeights):
    """A published detection weights file: COCO box mAP."""

    box_map: float = math.nan

    def published_metrics(self) -> dict[str, float]:
        return {"box_map": self.box_map}

    def transforms(self) -> Any:
        """torchvision's ``ObjectDetection`` preset: a float image in [0, 1] (the model resizes itself)."""
        from torchvision.transforms import v2

        return v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])


class SSDLite320_MobileNet_V3_Large_Weights(WeightsEnum):
    """torchvision's published SSDLite320 weights (COCO train2017, 91 category ids incl. background)."""

    COCO_V1 = DetectionWeights(
        model_name="ssdlite320_mobilenet_v3_large",
        tag="COCO_V1",
        url="https://download.pytorch.org/models/ssdlite320_mobilenet_v3_large_coco-a79551df.pth",
        sha256_prefix="a79551df",
        num_params=3_440_060,
        gflops=0.583,
        file_size_mb=13.418,
        recipe="https://github.com/pytorch/vision/tree/main/references/detection#ssdlite320-mobilenetv3-large",
        docs="torchvision's weights, produced by following a similar training recipe as in the paper.",
        dataset="COCO-val2017",
        crop_size=SSDLITE_SIZE,
        resize_size=SSDLITE_SIZE,
        mean=SSDLITE_MEAN,
        std=SSDLITE_STD,
        categories=COCO_CATEGORIES,
        box_map=21.3,
    )
    DEFAULT = COCO_V1


register_weights("ssdlite320_mobilenet_v3_large", SSDLite320_MobileNet_V3_Large_Weights)


# --------------------------------------------------------------------------------------------
# Reading weights
# --------------------------------------------------------------------------------------------


# The model in torchvision's layout: its weights reader and the two converters below.
_TORCHVISION = TorchvisionLayout(SSDLite, _module_pairs, SSDLite320_MobileNet_V3_Large_Weights)
ssdlite_from_torchvision = _TORCHVISION.from_torchvision
"""A lucid state dict for an `SSDLite` from torchvision's ``ssdlite320_mobilenet_v3_*``, every key and shape checked."""
ssdlite_to_torchvision = _TORCHVISION.to_torchvision
"""torchvision's state dict of a lucid `SSDLite` (torchvision's ``ssdlite320_mobilenet_v3_*`` loads it)."""


def _head_classes(source: WeightsSource) -> int:
    """The class count of the file's classification head (its first predictor's outputs / 6 anchors)."""
    key = "head.classification_head.module_list.0.1.weight"
    if key not in source.state:
        raise CheckpointError(f"{source.origin}: no {key}: not an SSDLite state dict")
    outputs = int(source.state[key].shape[0])
    if outputs % ANCHORS_PER_LOCATION:
        raise CheckpointError(
            f"{source.origin}: {key} has {outputs} outputs, not a multiple of {ANCHORS_PER_LOCATION} anchors"
        )
    return outputs // ANCHORS_PER_LOCATION


def load_into(model: SSDLite, weights: Any) -> SSDLite:
    """Load any accepted ``weights=`` value into ``model`` (checked in full before anything is copied)."""
    source = _TORCHVISION.resolve(weights, model.model_name)
    _TORCHVISION.load(model, source)
    base = preprocessing_cfg(model.num_classes, model.image_size)
    model.pretrained_cfg = source_pretrained_cfg(source, base, SSDLite320_MobileNet_V3_Large_Weights, model.num_classes)
    if source.meta is not None:
        model.checkpoint_extra = dict(source.meta.get("extra") or {})
    return model


# --------------------------------------------------------------------------------------------
# Factories
# --------------------------------------------------------------------------------------------


def _build(name: str, num_classes: int | None, weights: Any, ssd_kwargs: dict[str, Any]) -> SSDLite:
    backbone_keys = set(MobileNetV3Config.__dataclass_fields__) - {"bottleneck_cfg", "last_channels", "stem_channels"}
    backbone_kwargs = {k: ssd_kwargs.pop(k) for k in list(ssd_kwargs) if k in backbone_keys}
    source = _TORCHVISION.resolve(weights, name) if weights is not None else None
    extra = ((source.meta or {}).get("extra") or {}) if source is not None else {}
    trained_at = extra.get("image_size")
    if isinstance(trained_at, (list, tuple)) and trained_at:
        trained_at = trained_at[0]
    if isinstance(trained_at, int) and not isinstance(trained_at, bool):
        ssd_kwargs.setdefault("image_size", trained_at)  # the size it was trained at, unless asked otherwise
    recorded = extra.get("anchor_scales")
    if source is not None and recorded:
        if "anchor_scales" in ssd_kwargs and check_anchor_scales(ssd_kwargs["anchor_scales"]) != tuple(recorded):
            raise ValueError(
                f"anchor_scales={ssd_kwargs['anchor_scales']} but the weights were trained with {recorded} "
                f"({source.origin}); the head's offsets are relative to those default boxes"
            )
        ssd_kwargs["anchor_scales"] = tuple(recorded)
    if source is not None:
        found = _head_classes(source)
        if num_classes is not None and num_classes != found:
            raise ValueError(f"num_classes={num_classes} but the weights' head has {found} classes ({source.origin})")
        num_classes = found
    model = SSDLite(
        detection_config(_BACKBONES[name], **backbone_kwargs),
        len(COCO_CATEGORIES) if num_classes is None else num_classes,
        model_name=name,
        **ssd_kwargs,
    )
    if source is not None:
        load_into(model, source)
    return model


@register_model(task="detect")
def ssdlite320_mobilenet_v3_large(num_classes: int | None = None, *, weights: Any = None, **kwargs: Any) -> SSDLite:
    """SSDLite320 on MobileNet-v3 Large, torchvision's architecture (reduced tail, 320x320 input).

    ``num_classes`` (background included) defaults to the weights' head, else 91 (COCO's ids);
    ``weights``: ``"DEFAULT"``/``"COCO_V1"`` (torchvision's file, downloaded and hash-checked), a
    torchvision ``.pth`` or lucid checkpoint path, or a state dict. ``kwargs``: SSD options
    (``score_thresh``, ``nms_thresh``, ``detections_per_img``, ``topk_candidates``, ``iou_thresh``,
    ``positive_fraction``) and `MobileNetV3Config` fields (``width_mult``, ...).
    """
    return _build("ssdlite320_mobilenet_v3_large", num_classes, weights, kwargs)


@register_model(task="detect")
def ssdlite320_mobilenet_v3_small(num_classes: int | None = None, *, weights: Any = None, **kwargs: Any) -> SSDLite:
    """SSDLite320 on MobileNet-v3 Small; torchvision publishes neither the model nor weights for it.

    Built as torchvision builds the large one (its extractor on ``mobilenet_v3_small``); arguments
    as `ssdlite320_mobilenet_v3_large`, ``weights`` a file or state dict.
    """
    return _build("ssdlite320_mobilenet_v3_small", num_classes, weights, kwargs)
