"""``mobilenet_v3_small_lowres``: MobileNet-v3 Small for small photos (about 32 px).

The first inverted-residual block runs at stride 1 instead of 2, so the network's output stride
is 16: a 32 px input ends in a 2x2 map instead of 1x1, the same maps from the first block on as
the standard network sees on the photo upsampled to 64 px. Everything else is the paper's
Small network (table 2). There are no published weights for it; train it with ``lucid train``.
``lucid train --data DIR`` picks it for photos smaller than 64 px when neither ``--img-size``,
``--model`` nor ``--weights`` says otherwise: on the sign-language digits resized to 32 px it
beat the standard network on photos upsampled to 64 px by about 1.8 points of held-out top-1 at
about the same cost (docs/training.md, ``benchmarks/train_folder_accuracy.py --small-proxy``).
"""

from __future__ import annotations

from typing import Any

from lucid.models.model import MobileNet_V3
from lucid.models.presets import SMALL_BOTTLENECKS, preset_config
from lucid.models.registry import register_model

__all__ = ["LOWRES_SMALL_BOTTLENECKS", "mobilenet_v3_small_lowres"]

# Table 2 with the first block's stride 2 -> 1 (output stride 16).
LOWRES_SMALL_BOTTLENECKS = (SMALL_BOTTLENECKS[0][:5] + (1,) + SMALL_BOTTLENECKS[0][6:], *SMALL_BOTTLENECKS[1:])


@register_model
def mobilenet_v3_small_lowres(num_classes: int | None = None, *, weights: Any = None, **kwargs: Any) -> MobileNet_V3:
    """MobileNet-v3 Small with output stride 16 for ~32 px photos; ``kwargs`` as for the presets
    (``in_channels``, ``dropout``, ``bn_momentum``, ...). ``weights`` may be a lucid checkpoint of
    this network."""
    config = preset_config("mobilenet_v3_small", num_classes=1000 if num_classes is None else num_classes, **kwargs)
    config = config.replace(bottleneck_cfg=LOWRES_SMALL_BOTTLENECKS)
    model = MobileNet_V3(config, model_name="mobilenet_v3_small_lowres")
    if weights is not None:
        from lucid.models.weights import load_model

        loaded = load_model(weights)
        if loaded.config.bottleneck_cfg != model.config.bottleneck_cfg:
            raise ValueError(f"{weights}: not a mobilenet_v3_small_lowres checkpoint (different block table)")
        if num_classes is not None and loaded.config.num_classes != num_classes:
            raise ValueError(
                f"{weights}: has {loaded.config.num_classes} classes, asked for {num_classes}; fine-tune with "
                "lucid train --weights instead"
            )
        return loaded
    return model
