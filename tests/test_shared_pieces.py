"""The small pieces every task shares: the seeded split of data without one class per item, the
per-class table of lucid eval, and the record of a task's optimizer defaults."""

from __future__ import annotations

import pytest

from lucid.cli.table import class_table
from lucid.data.files import seeded_split
from lucid.detect import DetectConfig
from lucid.errors import DataError
from lucid.segment import SegmentConfig
from lucid.train.config import RecipeDefaults, TrainConfig


def test_seeded_split_is_repeatable_keeps_order_and_never_empties_a_side() -> None:
    items = [f"photo{i}" for i in range(10)]
    train, val = seeded_split(items, 0.3, seed=7, unit="photo")
    assert (train, val) == seeded_split(items, 0.3, seed=7, unit="photo")
    assert len(val) == 3 and sorted(train + val) == sorted(items)
    assert train == [x for x in items if x in train] and val == [x for x in items if x in val]
    assert len({tuple(seeded_split(items, 0.3, seed=s)[1]) for s in range(6)}) > 1  # the seed picks
    assert len(seeded_split(items[:2], 0.01, seed=0)[1]) == 1  # at least one validates
    assert len(seeded_split(items[:2], 0.99, seed=0)[0]) == 1  # at least one trains


@pytest.mark.parametrize(
    ("items", "fraction", "pattern"),
    [(["a"], 0.2, r"1 usable photo\(s\): at least 2"), (["a", "b"], 1.0, r"--val-fraction must be in \(0, 1\)")],
)
def test_seeded_split_refuses_what_cannot_split(items: list[str], fraction: float, pattern: str) -> None:
    with pytest.raises(DataError, match=pattern):
        seeded_split(items, fraction, seed=0, unit="photo")


def test_class_table_aligns_percentages_counts_and_missing_values() -> None:
    lines = class_table(["cat", "long name"], [("accuracy", [0.5, None]), ("images", [3, 120])])
    assert lines == [
        "class      accuracy  images",
        "cat          50.00%       3",
        "long name         -     120",
    ]


def test_each_task_config_takes_its_own_defaults_from_one_record() -> None:
    assert TrainConfig().defaults == RecipeDefaults()
    segment = SegmentConfig(data="d")
    detect = DetectConfig(data="d")
    assert (segment.epochs, detect.epochs) == (30, 60)
    assert segment.learning_rate == pytest.approx(2e-3) and detect.learning_rate == pytest.approx(2e-3)
    assert SegmentConfig(data="d", batch_size=4).learning_rate == pytest.approx(1e-3)  # scaled below batch 8
    assert (segment.decay, detect.decay) == (0.01, 0.01)
    assert DetectConfig(data="d", opt="sgd").decay == pytest.approx(4e-5)


@pytest.mark.parametrize(("field", "flag"), [("momentum", "--momentum"), ("label_smoothing", "--label-smoothing")])
def test_a_number_out_of_range_names_its_flag(field, flag):
    from lucid.train import TrainConfig

    with pytest.raises(ValueError, match=rf"{field} must be a number in .* \({flag}\), got 5.0"):
        TrainConfig(**{field: 5.0})
