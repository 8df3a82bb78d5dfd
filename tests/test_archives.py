"""Data given as an archive (`lucid.data.data_folder`): ``lucid train --data set.zip`` and ``lucid
eval --data set.tar.gz`` read the folder it holds, unpacked once into lucid's cache; a changed
archive is unpacked again; a damaged one, or one whose members would land outside the folder,
is refused in one line naming it.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lucid.cli import main
from lucid.data import data_folder, is_archive, local_inputs
from lucid.errors import DataError
from lucid.train import TrainConfig, train


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))


def _class_folders(root: Path, per_class: int = 6) -> Path:
    """Two classes of 32 px photos, dark and light, under ``root/photos/``."""
    rng = np.random.default_rng(0)
    for name, level in (("dark", 40), ("light", 210)):
        folder = root / "photos" / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(rng.normal(level, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    return root / "photos"


def test_an_archive_of_class_folders_trains_evaluates_predicts_and_is_unpacked_once(tmp_path, capsys):
    photos = _class_folders(tmp_path / "src")
    archive = Path(shutil.make_archive(str(tmp_path / "photos"), "gztar", photos.parent, "photos"))
    assert archive.name == "photos.tar.gz" and is_archive(archive) and not is_archive(photos)
    out = tmp_path / "run"
    assert main(["train", "--data", str(archive), "--epochs", "1", "--no-progress", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    folder = Path(data_folder(archive)[0])
    assert f"lucid train: --data {archive}: unpacked once into {folder} (unpacked again" in said
    assert folder.name == "photos" and sorted(p.name for p in folder.iterdir()) == ["dark", "light"]
    assert folder.is_relative_to(tmp_path / "home" / "archives")
    # Evaluated on the same archive: read from the folder, the note kept off the JSON on stdout.
    assert main(["eval", str(out / "best.safetensors"), "--data", str(archive), "--json"]) == 0
    captured = capsys.readouterr()
    scored = json.loads(captured.out)
    assert scored["classes"] == ["dark", "light"] and scored["images"] == 2  # the run's held-out split of 12
    assert f"lucid eval: --data {archive}: read from {folder}" in captured.err
    # Predicted: an image's address downloaded once, an archive read as its folder; notes on stderr.
    url = (photos / "dark" / "0.png").as_uri()
    assert main(["predict", str(out / "best.safetensors"), url, str(archive), "--topk", "1", "--json"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == 1 + 12
    assert f"{url}: downloaded into {tmp_path / 'home' / 'downloads'}" in captured.err
    assert f"lucid predict {archive}: read from {folder}" in captured.err


def test_a_changed_archive_is_unpacked_again_and_a_folder_passes_through(tmp_path):
    photos = _class_folders(tmp_path / "src", per_class=2)
    archive = Path(shutil.make_archive(str(tmp_path / "set"), "zip", photos.parent))
    first, note = data_folder(archive)
    assert note is not None and "unpacked once" in note and Path(first).name == "photos"
    assert data_folder(archive)[1].startswith(f"--data {archive}: read from {first}")  # type: ignore[union-attr]
    with zipfile.ZipFile(archive, "a") as handle:
        handle.writestr("photos/dark/extra.png", (photos / "dark" / "0.png").read_bytes())
    second, note = data_folder(archive)
    assert second != first and "unpacked once" in str(note) and (Path(second) / "dark" / "extra.png").is_file()
    # `lucid.train.train` reads an archive as the command does.
    result = train(TrainConfig(data=str(archive), epochs=1, progress=False, out=str(tmp_path / "run")))
    assert json.loads((result.out_dir / "summary.json").read_text())["config"]["data"] == second
    assert data_folder(photos) == (str(photos), None)
    assert data_folder(tmp_path / "missing.zip") == (str(tmp_path / "missing.zip"), None)  # the layouts say it


def test_a_split_folder_alone_stays_a_split_and_macos_files_are_left_out(tmp_path):
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("set/train/dark/0.png", b"png")
        handle.writestr("__MACOSX/set/train/dark/._0.png", b"apple double")
        handle.writestr(".DS_Store", b"")
    folder, _ = data_folder(archive)
    assert Path(folder).name == "set" and (Path(folder) / "train" / "dark" / "0.png").is_file()
    assert not (Path(folder).parent / "__MACOSX").exists()


def test_a_damaged_empty_or_escaping_archive_is_refused_in_one_line(tmp_path):
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match=rf"^--data {damaged}: not a readable zip archive \("):
        data_folder(damaged)
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(DataError, match=rf"^--data {empty}: the archive holds no files$"):
        data_folder(empty)
    escaping = tmp_path / "escaping.tar"
    with tarfile.open(escaping, "w") as handle:
        member = tarfile.TarInfo("../outside.txt")
        member.size = 4
        handle.addfile(member, io.BytesIO(b"evil"))
    with pytest.raises(DataError, match=rf"^--data {escaping}: refused to unpack: .*outside"):
        data_folder(escaping)
    assert not list((tmp_path / "home").rglob("outside.txt")) and not (tmp_path / "outside.txt").exists()
    assert not [p for p in (tmp_path / "home" / "archives").iterdir() if p.name.startswith(".")]  # nothing half-written


def test_an_address_is_downloaded_once_and_its_archive_told_by_its_content(tmp_path):
    """``--data https://...``: fetched once by torch.hub's downloader (a ``file://`` address here,
    as tests have no network), its format read from the content when the address has no suffix
    (Roboflow's download links have none)."""
    photos = _class_folders(tmp_path / "src", per_class=1)
    archive = Path(shutil.make_archive(str(tmp_path / "set"), "zip", photos.parent))
    served = archive.rename(tmp_path / "download")  # no suffix
    url = served.as_uri()
    folder, note = data_folder(url)
    assert Path(folder).name == "photos" and (Path(folder) / "dark" / "0.png").is_file()
    assert note is not None and note.startswith(f"--data {url}: downloaded into {tmp_path / 'home' / 'downloads'}")
    assert data_folder(url) == (
        folder,
        note.replace("downloaded into", "downloaded before into").replace("unpacked once into", "read from"),
    )
    # lucid predict reads it the same way: an archive, downloaded before, read as its folder.
    notes: list[str] = []
    assert local_inputs([url], notes.append) == [folder]
    downloaded = note.split(": downloaded into ")[1].split(", ")[0]
    assert notes == [
        f"lucid predict {url}: downloaded before into {downloaded}, read from {folder} "
        "(unpacked again only when the archive changes)"
    ]
    with pytest.raises(DataError, match=rf"^--data {(tmp_path / 'gone.zip').as_uri()}: could not download it \("):
        data_folder((tmp_path / "gone.zip").as_uri())
    assert len(list((tmp_path / "home" / "downloads").iterdir())) == 1  # the failed address left no folder
    (tmp_path / "notes.txt").write_text("not an archive")
    with pytest.raises(DataError, match=r": the download is not a zip or tar archive \("):
        data_folder((tmp_path / "notes.txt").as_uri())
