"""lucid.detect.metrics.coco_metrics on cases whose COCO AP can be worked out by hand.

With one ground-truth box and one detection, precision is 1 at every recall point for each IoU
threshold the pair clears and 0 for the others, so AP@[.5:.95] is the share of the ten
thresholds (0.50, 0.55 ... 0.95) the pair's IoU reaches.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from lucid.detect.metrics import coco_dataset, coco_metrics
from lucid.errors import DataError

CLASSES = ["cat", "dog", "bird"]


def truth(boxes: list[list[float]], labels: list[int], iscrowd: list[bool] | None = None) -> dict:
    item = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "labels": torch.tensor(labels)}
    if iscrowd is not None:
        item["iscrowd"] = torch.tensor(iscrowd)
    return item


def found(boxes: list[list[float]], labels: list[int], scores: list[float]) -> dict:
    return {**truth(boxes, labels), "scores": torch.tensor(scores)}


GT = [truth([[0, 0, 10, 10], [20, 20, 40, 30]], [1, 2]), truth([[5, 5, 25, 25]], [1])]


def test_perfect_predictions_score_one() -> None:
    predictions = [found(g["boxes"].tolist(), g["labels"].tolist(), [0.9] * len(g["labels"])) for g in GT]
    result = coco_metrics(predictions, GT, CLASSES)
    assert result["map"] == pytest.approx(1.0) and result["map50"] == pytest.approx(1.0)
    assert result["map75"] == pytest.approx(1.0)
    assert result["per_class_ap"] == {"cat": pytest.approx(1.0), "dog": pytest.approx(1.0), "bird": None}
    assert result["per_class_ap50"]["bird"] is None and result["images"] == 2


def test_shifted_box_clears_seven_of_ten_thresholds() -> None:
    # [1, 0, 11, 10] against [0, 0, 10, 10]: IoU 90 / 110 = 0.818 clears 0.50 ... 0.80, not 0.85 ... 0.95.
    result = coco_metrics([found([[1, 0, 11, 10]], [1], [0.8])], [truth([[0, 0, 10, 10]], [1])], CLASSES)
    assert result["map"] == pytest.approx(0.7)
    assert (result["map50"], result["map75"]) == (pytest.approx(1.0), pytest.approx(1.0))
    # [3, 0, 13, 10]: IoU 70 / 130 = 0.538 clears only 0.50.
    result = coco_metrics([found([[3, 0, 13, 10]], [1], [0.8])], [truth([[0, 0, 10, 10]], [1])], CLASSES)
    assert (result["map"], result["map50"], result["map75"]) == (pytest.approx(0.1), pytest.approx(1.0), 0.0)


def test_missed_class_scores_zero_and_halves_the_mean() -> None:
    predictions = [found([[0, 0, 10, 10]], [1], [0.9]), found([[5, 5, 25, 25]], [1], [0.9])]
    result = coco_metrics(predictions, GT, CLASSES)
    assert result["per_class_ap"]["cat"] == pytest.approx(1.0) and result["per_class_ap"]["dog"] == 0.0
    assert result["map"] == pytest.approx(0.5) and result["map50"] == pytest.approx(0.5)


def test_images_without_predictions_or_ground_truth() -> None:
    ground_truth = [truth([[0, 0, 10, 10]], [1]), truth([], [])]
    # A false positive on the image without boxes, scored below the true positive: precision stays 1.
    low = [found([[0, 0, 10, 10]], [1], [0.9]), found([[0, 0, 5, 5]], [1], [0.5])]
    assert coco_metrics(low, ground_truth, CLASSES)["map"] == pytest.approx(1.0)
    # Scored above it: the true positive comes second, precision 1/2 at full recall.
    high = [found([[0, 0, 10, 10]], [1], [0.9]), found([[0, 0, 5, 5]], [1], [0.95])]
    assert coco_metrics(high, ground_truth, CLASSES)["map"] == pytest.approx(0.5)
    nothing = [found([], [], []), found([], [], [])]
    assert coco_metrics(nothing, ground_truth, CLASSES)["map"] == 0.0


def test_no_ground_truth_at_all_gives_none() -> None:
    result = coco_metrics([found([[0, 0, 5, 5]], [2], [0.5])], [truth([], [])], CLASSES)
    assert result["map"] is None and set(result["per_class_ap"].values()) == {None}


def test_crowd_or_difficult_boxes_are_ignored() -> None:
    ground_truth = [truth([[0, 0, 10, 10], [20, 20, 30, 30]], [1, 1], iscrowd=[False, True])]
    # The detection of the ignored box scores highest; counted as a false positive AP would be 0.5.
    predictions = [found([[20, 20, 30, 30], [0, 0, 10, 10]], [1, 1], [0.95, 0.9])]
    assert coco_metrics(predictions, ground_truth, CLASSES)["map"] == pytest.approx(1.0)


def test_bad_input_is_one_clear_error() -> None:
    with pytest.raises(DataError, match="labels must be 1..3"):
        coco_metrics([found([[0, 0, 5, 5]], [0], [0.5])], [truth([[0, 0, 5, 5]], [1])], CLASSES)
    with pytest.raises(DataError, match=r"must be \(N, 4\)"):
        coco_metrics([{"boxes": [[0, 0, 5]], "labels": [1], "scores": [1.0]}], [truth([], [])], CLASSES)
    with pytest.raises(DataError, match="2 prediction dicts for 1 ground-truth"):
        coco_metrics([found([], [], [])] * 2, [truth([], [])], CLASSES)
    assert not math.isnan(coco_metrics([found([], [], [])], [truth([[0, 0, 5, 5]], [3])], CLASSES)["map"])


def test_the_scores_are_pycocotools_own_on_many_random_photos(tmp_path: Path) -> None:
    """faster-coco-eval (lucid's evaluator) against pycocotools, the reference, on photos with
    several classes, crowd boxes, a class with only crowd boxes (no AP), misses, duplicates,
    boxes without area, photos without boxes and photos with more detections than COCOeval keeps."""
    import contextlib
    import io

    import numpy as np
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    generator = torch.Generator().manual_seed(21)

    def boxes(count: int) -> torch.Tensor:
        corner = torch.rand(count, 2, generator=generator) * 200
        return torch.cat((corner, corner + 4 + torch.rand(count, 2, generator=generator) * 80), 1)

    truths, predictions = [], []
    for image in range(40):
        count = int(torch.randint(0, 6, (1,), generator=generator))
        gt = boxes(count)
        labels = torch.randint(1, 4, (count,), generator=generator)
        crowd = (torch.rand(count, generator=generator) < 0.15) | (labels == 3)  # "bird": crowd boxes only
        truths.append({"boxes": gt, "labels": labels, "iscrowd": crowd})
        near = gt + torch.randn(gt.shape, generator=generator) * 6  # found boxes, off by a few pixels
        extra = 150 if image % 10 == 0 else int(torch.randint(0, 4, (1,), generator=generator))  # > maxDets 100
        made = torch.cat((near, boxes(extra)))
        if len(made):
            made[-1, 2] = made[-1, 0]  # a box without area
        predictions.append(
            {
                "boxes": made,
                "labels": torch.cat(
                    (truths[-1]["labels"], torch.randint(1, 4, (len(made) - count,), generator=generator))
                ),
                "scores": torch.rand(len(made), generator=generator),
            }
        )

    def reference() -> np.ndarray:
        """pycocotools' table, reading `coco_dataset`'s dicts written as COCO JSON files."""
        files = {}
        for name, items, scored in (("truth", truths, False), ("found", predictions, True)):
            files[name] = tmp_path / f"{name}.json"
            files[name].write_text(json.dumps(coco_dataset(items, CLASSES, predictions=scored)))
        with contextlib.redirect_stdout(io.StringIO()):
            evaluator = COCOeval(COCO(str(files["truth"])), COCO(str(files["found"])), iouType="bbox")
            evaluator.evaluate()
            evaluator.accumulate()
        return evaluator.eval["precision"][:, :, :, 0, -1]

    precision = reference()
    got = coco_metrics(predictions, truths, CLASSES)
    assert 0.01 < got["map"] < 0.9  # a mix of hits and misses, not a degenerate case
    assert got["map"] == pytest.approx(float(precision[precision > -1].mean()), abs=1e-12)
    assert got["map50"] == pytest.approx(float(precision[0][precision[0] > -1].mean()), abs=1e-12)
    for k, name in enumerate(CLASSES):
        column = precision[:, :, k]
        expected = float(column[column > -1].mean()) if (column > -1).any() else None
        assert got["per_class_ap"][name] == (pytest.approx(expected, abs=1e-12) if expected is not None else None)
    assert got["per_class_ap"]["bird"] is None
