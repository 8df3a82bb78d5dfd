"""``lucid.classify``: image classification as a task of lucid's one engine (`ClassifyTask`).

Its data, recipe, evaluation and prediction live in `lucid.train` (``TrainConfig``,
``evaluate``, ``predict``) and `lucid.data`; this package is the plug-in the engine runs and
the classification side of ``lucid eval`` / ``lucid predict`` (``lucid.classify.cli``).
"""

from lucid.classify.task import ClassifyTask, resolve_in_channels

__all__ = ["ClassifyTask", "resolve_in_channels"]
