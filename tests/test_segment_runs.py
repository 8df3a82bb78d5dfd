"""Run-length mask tables (Kaggle's ``ImageId,EncodedPixels`` CSVs: Airbus, Severstal,
Understanding Clouds, Sartorius) read through the public API into cached class masks, each
checked pixel for pixel against the masks the runs were written from."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from cli_helpers import trained_then_rescored
from lucid.data.tables import read_label_table, read_run_table
from lucid.errors import DataError
from lucid.segment.data import find_layout, holds_masks
from lucid.segment.runs import decode_runs

HEIGHT, WIDTH = 24, 40  # rows, columns: not square, so a run's order shows in its shapes


@pytest.fixture
def home(tmp_path, monkeypatch):
    """``LUCID_HOME`` in a temporary folder: drawn masks are cached in its ``masks/``."""
    folder = tmp_path / "home"
    monkeypatch.setenv("LUCID_HOME", str(folder))
    return folder


def runs(mask: np.ndarray, order: str) -> str:
    """``mask``'s pixels as Kaggle writes them: 1-based ``start length`` pairs, column by column
    ("F", Kaggle's rule) or row by row ("C")."""
    flat = np.concatenate([[0], mask.flatten(order=order).astype(np.int8), [0]])
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges[1::2] -= edges[::2]
    return " ".join(str(v) for v in edges)


def objects(i: int, size: tuple[int, int] = (HEIGHT, WIDTH)) -> list[np.ndarray]:
    """Photo ``i``'s objects: a wide block and a small square, placed by ``i``, not symmetric
    about the diagonal."""
    wide = np.zeros(size, bool)
    wide[2 + i % 4 : 9 + i % 4, 3 : 3 + 14 + i % 5] = True
    small = np.zeros(size, bool)
    small[12 + i % 3 : 17 + i % 3, 20 - i % 4 : 25 - i % 4] = True
    return [wide, small]


def photo(path, masks: list[np.ndarray]) -> None:
    """A photo whose objects are bright on a dark, uneven ground: its edges are the objects' outlines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(path.name))
    pixels = rng.integers(20, 50, (*masks[0].shape, 3), dtype=np.uint8)
    for value, mask in enumerate(masks, start=1):
        pixels[mask] = (120 + 60 * value, 90 * value, 200)
    Image.fromarray(pixels).save(path)


def write_table(path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def drawn(layout) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(m)) for p, m in layout.train + layout.val}


def severstal(root, count: int = 10, unlisted: int = 2) -> dict[str, np.ndarray]:
    """Severstal's layout: ``train_images/`` + ``test_images/`` + ``train.csv``
    (``ImageId,ClassId,EncodedPixels``, column by column, a row per class present) +
    ``sample_submission.csv``; the last ``unlisted`` photos have no rows (no defects). Returns
    the class mask each photo should get."""
    rows, expected = [], {}
    for i in range(count):
        wide, small = objects(i)
        name = f"{i:04x}c93b.jpg"
        photo(root / "train_images" / name, [wide, small])
        expected[name] = np.where(small, 3, np.where(wide, 1, 0)).astype(np.uint8)
        if i >= count - unlisted:
            expected[name] = np.zeros((HEIGHT, WIDTH), np.uint8)
            continue
        rows += [[name, 1, runs(wide, "F")], [name, 3, runs(small, "F")]]
    write_table(root / "train.csv", ["ImageId", "ClassId", "EncodedPixels"], rows)
    photo(root / "test_images" / "ffffc93b.jpg", objects(0))
    write_table(root / "sample_submission.csv", ["ImageId", "EncodedPixels", "ClassId"], [["ffffc93b.jpg", "1 1", 1]])
    return expected


def test_severstal_table_is_drawn_column_by_column(tmp_path, home):
    """Each photo's rows drawn into one class mask, classes by their ids (1 and 3 as values 1 and
    2); photos without rows in the listed photos' folder are background alone, said; the test
    photos and the answer sheet are not used; ``lucid train`` claims it for segmentation."""
    from lucid.tasks import task_of_data

    root = tmp_path / "severstal"
    expected = severstal(root)
    assert holds_masks(root)
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "segment", claimed
    layout = find_layout(root, val_fraction=0.2)
    assert (len(layout.train), len(layout.val)) == (8, 2)
    assert layout.coding.names == ["background", "1", "3"]
    got = drawn(layout)
    assert sorted(got) == sorted(expected)
    for name, mask in expected.items():
        np.testing.assert_array_equal(got[name], np.where(mask == 3, 2, mask), err_msg=name)
    text = "\n".join(layout.notes)
    assert "2 photos in train_images/ are in no row" in text and "background alone" in text
    assert "column by column" in text
    assert all(str(m).startswith(str(home)) for _, m in layout.train)  # the data folder is not written to


def test_a_table_of_runs_row_by_row_with_names_without_suffix(tmp_path, home):
    """Sartorius' layout: ``train/<id>.png`` + ``train.csv`` (``id,annotation,width,height,cell_type``,
    a row per cell, row by row): one class, ``object``; the order is read from the shapes; the
    unlabelled photos of another folder are not used."""
    root = tmp_path / "sartorius"
    rows, expected = [], {}
    for i in range(6):
        wide, small = objects(i)
        photo(root / "train" / f"0030fd0e{i:04d}.png", [wide, small])
        expected[f"0030fd0e{i:04d}.png"] = (wide | small).astype(np.uint8)
        rows += [[f"0030fd0e{i:04d}", runs(m, "C"), WIDTH, HEIGHT, "shsy5y"] for m in (wide, small)]
    write_table(root / "train.csv", ["id", "annotation", "width", "height", "cell_type"], rows)
    photo(root / "train_semi_supervised" / "aa.png", objects(1))
    photo(root / "test" / "bb.png", objects(2))
    layout = find_layout(root, val_fraction=0.34)
    assert layout.coding.names == ["background", "object"]
    got = drawn(layout)
    assert sorted(got) == sorted(expected)
    for name, mask in expected.items():
        np.testing.assert_array_equal(got[name], mask, err_msg=name)
    assert "row by row" in "\n".join(layout.notes)


@pytest.mark.parametrize("order", ["F", "C"])
def test_square_photos_take_the_order_whose_outlines_follow_the_photo(tmp_path, home, order):
    """On square photos the wrong order draws the shapes mirrored about the diagonal, with the
    same outline; the order whose outlines lie on the photo's edges is taken, either way."""
    root = tmp_path / f"square_{order}"
    rows, expected = [], {}
    for i in range(5):
        shapes = objects(i, (32, 32))
        photo(root / "train" / f"s{i}.png", shapes)
        expected[f"s{i}.png"] = np.where(shapes[1], 2, np.where(shapes[0], 1, 0)).astype(np.uint8)
        rows += [[f"s{i}", "bowel", runs(shapes[0], order)], [f"s{i}", "stomach", runs(shapes[1], order)]]
    write_table(root / "train.csv", ["id", "class", "segmentation"], rows)
    layout = find_layout(root, val_fraction=0.2)
    assert layout.coding.names == ["background", "bowel", "stomach"]
    got = drawn(layout)
    for name, mask in expected.items():
        np.testing.assert_array_equal(got[name], mask, err_msg=name)
    assert "follow their edges" in "\n".join(layout.notes)


def test_airbus_table_with_rows_of_no_pixels_lists_every_photo(tmp_path, home):
    """Airbus' layout: a row per ship, and one empty row for a photo without ships; a photo the
    table does not list is then not used (said). A name that ``test_v2/`` has too is the photo
    in ``train_v2/``, where the table's other photos are."""
    root = tmp_path / "airbus"
    rows, expected = [], {}
    for i in range(6):
        shapes = objects(i)
        name = f"00{i}3e153.jpg"
        photo(root / "train_v2" / name, shapes)
        if i % 3 == 0:
            rows.append([name, "" if i == 0 else "NaN"])  # pandas' to_csv of a missing value, or nothing
            expected[name] = np.zeros((HEIGHT, WIDTH), np.uint8)
        else:
            rows += [[name, runs(mask, "F")] for mask in shapes]
            expected[name] = (shapes[0] | shapes[1]).astype(np.uint8)
    photo(root / "train_v2" / "unlisted.jpg", objects(0))
    photo(root / "test_v2" / "003e153.jpg", objects(3))  # not the photo the table means
    photo(root / "test_v2" / "003e153.jpg".replace("003", "001"), objects(4))
    write_table(root / "train_ship_segmentations_v2.csv", ["ImageId", "EncodedPixels"], rows)
    layout = find_layout(root, val_fraction=0.2)
    got = drawn(layout)
    assert sorted(got) == sorted(expected)
    assert all(p.parent.name == "train_v2" for p, _ in layout.train + layout.val)
    for name, mask in expected.items():
        np.testing.assert_array_equal(got[name], mask, err_msg=name)
    assert any("1 photos in train_v2/ are in no row" in note and "not used" in note for note in layout.notes)


def test_a_photo_and_class_in_one_column(tmp_path, home):
    """Understanding Clouds' ``Image_Label,EncodedPixels`` (``x.jpg_Fish``, an empty row for a
    class the photo does not have): the classes by name, values 1..K."""
    root = tmp_path / "clouds"
    rows = []
    for i in range(5):
        wide, small = objects(i)
        photo(root / "train_images" / f"{i:07d}.jpg", [wide, small])
        rows += [[f"{i:07d}.jpg_Fish", runs(wide, "F")], [f"{i:07d}.jpg_Sugar", runs(small, "F")]]
        rows.append([f"{i:07d}.jpg_Gravel", ""])
    write_table(root / "train.csv", ["Image_Label", "EncodedPixels"], rows)
    layout = find_layout(root, val_fraction=0.2)
    assert layout.coding.names == ["background", "Fish", "Gravel", "Sugar"]
    wide, small = objects(2)
    np.testing.assert_array_equal(drawn(layout)["0000002.jpg"], np.where(small, 3, np.where(wide, 1, 0)))


def test_train_and_val_tables_split(tmp_path, home):
    """``train.csv`` + ``val.csv`` beside ``train/`` + ``val/``: each table's photos are its split."""
    root = tmp_path / "split"
    for split, count in (("train", 4), ("val", 2)):
        rows = []
        for i in range(count):
            wide, small = objects(i)
            photo(root / split / f"{split}{i}.png", [wide, small])
            rows.append([f"{split}{i}.png", "car", runs(wide, "F")])
        write_table(root / f"{split}.csv", ["image_id", "label", "rle"], rows)
    layout = find_layout(root)
    assert (layout.kind, len(layout.train), len(layout.val)) == ("splits", 4, 2)
    assert {p.parent.name for p, _ in layout.val} == {"val"}


def test_a_run_table_is_no_classifier_label_table(tmp_path):
    """A table of runs with one class per photo labels pixels, not photos: the label-table reader
    leaves it alone, and a table whose ``annotation`` column holds words is still a label table."""
    wide, _ = objects(0)
    write_table(
        tmp_path / "train.csv",
        ["ImageId", "ClassId", "EncodedPixels"],
        [[f"{i}.jpg", i % 2, runs(wide, "F")] for i in range(8)],
    )
    assert read_label_table(tmp_path / "train.csv") is None
    assert read_run_table(tmp_path / "train.csv") is not None
    write_table(
        tmp_path / "words.csv", ["image", "annotation"], [[f"{i}.jpg", ("cat", "dog")[i % 2]] for i in range(8)]
    )
    assert read_run_table(tmp_path / "words.csv") is None
    assert read_label_table(tmp_path / "words.csv") is not None


def test_runs_outside_the_photo_and_malformed_runs_are_refused(tmp_path, home):
    """Runs past a photo's last pixel, or not pairs of whole numbers, are a one-line DataError
    naming the table and the photo; nothing is written for that photo."""
    root = tmp_path / "bad"
    expected = severstal(root, count=4, unlisted=0)
    name = sorted(expected)[2]
    table = root / "train.csv"
    text = table.read_text().splitlines()
    text.append(f"{name},2,{HEIGHT * WIDTH - 2} 5")
    table.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=rf"train.csv, the rows of {name}: its runs cover pixels .*outside the 40x24"):
        find_layout(root)
    text[-1] = f"{name},2,5 7 9"
    table.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"'5 7 9' are not runs; expected pairs of whole numbers") as caught:
        find_layout(root)
    assert "\n" not in str(caught.value)
    with pytest.raises(DataError, match="are not runs"):
        decode_runs("1 x", 2, 2, "F", "here")


def test_a_table_naming_no_photo_here_is_refused(tmp_path, home):
    """A run table whose photos are all elsewhere says so, naming its photo column."""
    root = tmp_path / "elsewhere"
    severstal(root, count=3, unlisted=0)
    for file in (root / "train_images").iterdir():
        file.rename(file.with_name("x" + file.name))
    photo(root / "train_images" / "a.jpg", objects(0))
    from lucid.segment.runs import run_masks

    with pytest.raises(DataError, match=r"names 6 photos by its column 'ImageId', none of them below"):
        run_masks(root)


def test_training_and_evaluating_on_a_run_table(tmp_path, home, capsys):
    """``lucid train --data DIR`` without ``--task`` on the Severstal layout trains segmentation; ``lucid
    eval`` with and without ``--data`` rescores the run's two held-out photos; ``lucid predict``
    writes a mask for a test photo."""
    from lucid.cli import main

    root = tmp_path / "severstal"
    severstal(root, count=10)
    out = tmp_path / "run"
    tiny = ["--crop-size", "24x24", "--batch-size", "2", "--epochs", "1", "--no-progress"]
    said, summary = trained_then_rescored(root, out, capsys, tiny, "miou", 2, [[], ["--data", str(root)]])
    assert "training segmentation (--task segment)" in said and "run-length table: train.csv" in said
    assert summary["status"] == "finished" and summary["data"]["classes"] == ["background", "1", "3"]
    shown = tmp_path / "shown"
    test_photo = root / "test_images" / "ffffc93b.jpg"
    assert main(["predict", str(out / "last.safetensors"), str(test_photo), "--out", str(shown)]) == 0
    assert any(shown.rglob("*.png"))


def test_uw_madison_scan_slices_named_by_case_day_and_slice(tmp_path, home):
    """UW-Madison GI Tract: ``train.csv`` (``id,class,segmentation``, a row per slice and organ, empty
    runs where the organ is absent) names each slice ``case123_day20_slice_0001``, the file being
    ``train/case123/case123_day20/scans/slice_0001_24_40_1.50_1.50.png`` (16-bit grey): each slice
    is found by that id and its mask drawn from the runs (row by row, as the data shows). Before: a
    classifier of the case folders."""
    root = tmp_path / "uw-madison-gi-tract-image-segmentation"
    rows, expected = [], {}
    for i in range(6):
        case, day, number = f"case{120 + i // 3}", f"day{20 + i % 2}", f"{i + 1:04d}"
        wide, small = objects(i)
        scan = (np.where(wide | small, 30000, 2000) + np.arange(WIDTH)[None, :] * 10).astype(np.uint16)
        path = root / "train" / case / f"{case}_{day}" / "scans" / f"slice_{number}_{WIDTH}_{HEIGHT}_1.50_1.50.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(scan).save(path)
        slice_id = f"{case}_{day}_slice_{number}"
        rows += [[slice_id, "large_bowel", runs(wide, "C")], [slice_id, "stomach", runs(small, "C") if i else ""]]
        expected[path.name] = np.where(small & (i > 0), 2, np.where(wide, 1, 0)).astype(np.uint8)
    write_table(root / "train.csv", ["id", "class", "segmentation"], rows)
    assert holds_masks(root)
    layout = find_layout(root)
    masks = drawn(layout)
    assert len(masks) == 6 and all(np.array_equal(masks[name], mask) for name, mask in expected.items())
