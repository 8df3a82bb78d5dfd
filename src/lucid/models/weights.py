"""Loading weights into lucid models: lucid checkpoints (and, later, foreign formats)."""

from __future__ import annotations

import os
from typing import Any

from lucid import checkpoint
from lucid.models.config import MobileNetV3Config
from lucid.models.model import MobileNet_V3

__all__ = ["load_model"]


def load_model(path: str | os.PathLike[str], **overrides: Any) -> MobileNet_V3:
    """Rebuild the model a lucid checkpoint describes and load its weights.

    ``overrides`` change config fields that do not alter parameter shapes (e.g. ``dropout``).
    The returned model is in eval mode; ``model.checkpoint_extra`` holds the file's extra metadata.
    """
    meta = checkpoint.read_metadata(path)
    if meta["config"] is None:
        raise checkpoint.CheckpointError(f"{path}: checkpoint has no model config; cannot rebuild the model")
    config = MobileNetV3Config.from_dict({**meta["config"], **overrides})
    model = MobileNet_V3(config)
    model.model_name = meta["model_name"] or model.model_name
    state = checkpoint.load(path)
    checkpoint.check_state_dict(model, state, source=str(path))
    model.load_state_dict(state)
    model.checkpoint_extra = meta["extra"]
    return model.eval()
