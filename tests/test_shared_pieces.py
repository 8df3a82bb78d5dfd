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


def test_the_learning_rate_is_for_each_configs_own_default_batch() -> None:
    """The recipe's rate holds at the config's default batch size and scales down below it only."""
    assert TrainConfig(batch_size=32).learning_rate == pytest.approx(0.05)  # classification: 0.1 at 64
    assert TrainConfig(batch_size=128).learning_rate == pytest.approx(0.1)  # never scaled up
    assert DetectConfig(data="d", batch_size=8).learning_rate == pytest.approx(1e-3)  # 2e-3 at 16


def test_each_task_claims_its_own_data_layout_and_class_folders_are_nobodys(tmp_path) -> None:
    from lucid.tasks import task_of_data

    classes = tmp_path / "classes"
    for name in ("cat", "dog"):
        (classes / name).mkdir(parents=True)
    pairs = tmp_path / "pairs"
    for name in ("images", "masks"):
        (pairs / name).mkdir(parents=True)
    coco = tmp_path / "coco"
    (coco / "annotations").mkdir(parents=True)
    (coco / "annotations" / "instances_default.json").write_text('{"images": [], "annotations": []}')
    assert task_of_data(str(classes)) is None
    task, note = task_of_data(str(pairs))
    assert task == "segment" and "--task segment" in note
    task, note = task_of_data(str(coco))
    assert task == "detect" and "--task detect" in note


def test_the_command_line_package_names_no_task() -> None:
    """lucid.cli routes by the task registry (`Task.cli_module`, `Task.data_note`): no string in
    its code is a task's name, so a new task needs no change there."""
    import ast
    from pathlib import Path

    import lucid.cli
    from lucid.tasks import task_names

    names = set(task_names())
    found = []
    for file in sorted(Path(lucid.cli.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{file.name}:{node.lineno} {node.value!r}")
    assert found == []


def test_print_eval_prints_any_tasks_result_as_text_or_strict_json(capsys) -> None:
    import json
    from dataclasses import asdict, dataclass, field

    from lucid.cli.table import print_eval

    @dataclass
    class Result:
        classes: list[str]
        score: float
        notes: list[str] = field(default_factory=list)

        def to_dict(self) -> dict:
            return asdict(self)

        def summary(self) -> list[str]:
            return [f"score {self.score}"]

        def class_columns(self) -> list:
            return [("hits", [1, 2])]

    result = Result(["a", "b"], float("nan"), ["a note"])
    assert print_eval(result, as_json=True) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["score"] is None and "lucid eval: note: a note" in err
    assert print_eval(result, as_json=False) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "score nan" and lines[1].split() == ["class", "hits"] and lines[3].split() == ["b", "2"]


def test_a_task_without_a_cli_module_is_refused_when_registered() -> None:
    """The CLI imports each task's ``cli_module`` by name; an empty one failed later with Python's
    "Empty module name" in every command. Now the definition itself is refused, naming the task."""
    from lucid.tasks import Task, register_task, task_names

    class Sketch(Task):
        name = "sketch"

    with pytest.raises(ValueError, match=r"task 'sketch' \(.*Sketch\) names no cli_module; expected the module"):
        register_task(Sketch)
    assert "sketch" not in task_names()
