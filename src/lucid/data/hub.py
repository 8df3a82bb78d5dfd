"""Data sets as the Hugging Face Hub stores them: Parquet shards (``huggingface-cli download
--repo-type dataset``: ``data/train-00000-of-00001.parquet``, ``plain_text/test-*.parquet``; the
Hub's converted ``<config>/train/0000.parquet``) and the Arrow files ``Dataset.save_to_disk``
writes (``train/data-00000-of-00001.arrow`` + ``dataset_info.json``).

A row holds a photo (an ``Image`` column: the encoded file's bytes and its name) and its labels.
The columns' meaning comes from the ``features`` the ``datasets`` library records in each file's
schema (``ClassLabel`` names the classes), else from the Arrow types alone. A shard's split is the
first word of its name (``validation-00000-of-00002``), else its folder's (``train/0000.parquet``).

pyarrow, the Parquet and Arrow reference implementation, reads the files a batch of rows at a time,
so a set larger than memory streams. The ``datasets`` library is not needed: it would read the same
files through pyarrow and cache a second copy. What each task makes of the rows (class folders,
masks, boxes) is written once into lucid's cache (`unpacked`) and read from there as files.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lucid.data.files import hidden, keyed_cache_folder, split_role, split_word, written_once
from lucid.errors import DataError

__all__ = ["HUB_SUFFIXES", "HubSet", "hub_set", "image_bytes", "unpacked", "class_label_names"]

HUB_SUFFIXES = (".parquet", ".arrow")
_DEPTH = 4  # <name>/<config>/<version>/<hash>/<shard>: the datasets cache, the deepest layout
_SHARD = re.compile(r"([A-Za-z][A-Za-z0-9_]*)-\d{5}-of-\d{5}")  # train-00000-of-00001(-<hash>).parquet
_MOST_FOLDERS = 8  # a Hub download's folders: its configurations or splits
_MOST_ENTRIES = 4096  # a folder of shards holds fewer (ImageNet-1k's train split: 294)
_BATCH_ROWS = 64  # rows per batch read: photos are large cells


@dataclass
class HubSet:
    """The shards of one Hugging Face data set: ``splits`` maps a role (``train``, ``val``,
    ``test``) to its files, ``split_names`` the role to the set's own name (``validation``);
    ``features`` is each column's ``datasets`` feature (``{"_type": "Image"}``,
    ``{"_type": "ClassLabel", "names": [...]}``, a dict or list for nested columns)."""

    root: Path
    splits: dict[str, list[Path]]
    split_names: dict[str, str]
    features: dict[str, Any]
    unread: list[str] = field(default_factory=list)  # splits of other names (``unsupervised``): not read

    def files(self) -> list[Path]:
        return [file for files in self.splits.values() for file in files]

    def image_columns(self) -> list[str]:
        """The columns that hold an image per row, in the files' order."""
        return [name for name, feature in self.features.items() if _is_image(feature)]

    def describe(self) -> str:
        counts = ", ".join(f"{self.split_names[r]}: {len(f)} file{'s' * (len(f) > 1)}" for r, f in self.splits.items())
        kind = "Parquet" if self.files()[0].suffix == ".parquet" else "Arrow"
        unread = f"; not read: {', '.join(self.unread)}" if self.unread else ""
        return f"a Hugging Face data set in {kind} files ({counts}{unread})"

    def rows(self, role: str, columns: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Each row of split ``role`` as a dict of ``columns``, read a batch at a time."""
        for file in self.splits.get(role, []):
            for batch in _batches(file, list(columns)):
                yield from batch.to_pylist()


def hub_set(root: str | os.PathLike[str]) -> HubSet | None:
    """The Hugging Face set of ``root`` (its shards found up to four folders down, hidden ones
    such as ``.cache/`` skipped), or None when it holds no ``.parquet`` or ``.arrow`` file. A root
    of shards of several configurations (``cifar10/`` and ``cifar100/``) is a DataError that
    names them: each is a data set of its own."""
    base = Path(root).expanduser()
    base = _snapshot(base) or base
    shards = _shards(base, _DEPTH) if base.is_dir() else []
    if not shards:
        return None
    configs: dict[Path, list[tuple[str | None, str, Path]]] = {}
    for file in shards:
        name, folder = _split_of(file)
        configs.setdefault(folder, []).append((_role(name), name, file))
    if len(configs) > 1:
        shown = ", ".join(f"{_short(base, f)}/" for f in sorted(configs))
        raise DataError(f"--data {base}: holds Hugging Face files of {len(configs)} data sets ({shown}); pass one")
    ((_, found),) = configs.items()
    splits: dict[str, list[Path]] = {}
    split_names: dict[str, str] = {}
    unread = sorted({name for role, name, _ in found if role is None})
    for role, name, file in sorted(found, key=lambda item: (str(item[0]), item[2].name)):
        if role is not None and split_names.setdefault(role, name) == name:  # one split per role
            splits.setdefault(role, []).append(file)
    if not splits:
        raise DataError(
            f"--data {base}: Hugging Face files of the splits {', '.join(unread)}; none trains or validates"
        )
    features = _features(splits[next(iter(splits))][0])
    ordered = dict(sorted(splits.items(), key=lambda item: _ROLE_ORDER[item[0]]))
    return HubSet(base, ordered, split_names, features, unread)


def _role(name: str) -> str | None:
    """The role of a split's name: ``train``, ``val`` (``validation``, ``dev``) or ``test``; None
    for another split (``unsupervised``, ``extra``: not read)."""
    return split_role(name) or ("val" if name.lower() == "dev" else None)


_ROLE_ORDER = {"train": 0, "val": 1, "test": 2}


def _short(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) and path != root else path.name


def _shards(folder: Path, depth: int) -> list[Path]:
    """The ``.parquet``/``.arrow`` files of ``folder`` and of its folders ``depth`` - 1 deep, a
    folder of more than `_MOST_FOLDERS` folders not walked, one of more than `_MOST_ENTRIES`
    entries not read further (``cache-*.arrow``, the ``datasets`` library's own caches of mapped
    sets, are not data)."""
    entries = []
    try:
        with os.scandir(folder) as listing:
            for entry in listing:
                entries.append(entry)
                if len(entries) > _MOST_ENTRIES:  # a folder of photos (a class's), not of shards
                    return []
    except OSError:
        return []
    entries.sort(key=lambda e: e.name)
    found = [
        Path(e.path)
        for e in entries
        if e.is_file() and e.name.lower().endswith(HUB_SUFFIXES) and not e.name.startswith("cache-")
    ]
    folders = [Path(e.path) for e in entries if not hidden(e.name) and e.is_dir()] if depth > 1 else []
    if len(folders) <= _MOST_FOLDERS:  # more are class folders (or the like), not walked for shards
        for inner in folders:
            found += _shards(inner, depth - 1)
    return found


def _snapshot(folder: Path) -> Path | None:
    """The snapshot a Hub cache folder (``~/.cache/huggingface/hub/datasets--uoft-cs--cifar10``:
    ``blobs/``, ``refs/main``, ``snapshots/<commit>/``) holds the files of: the one ``refs/main``
    names, else the newest; None for any other folder."""
    snapshots = folder / "snapshots"
    if not folder.name.startswith("datasets--") or not snapshots.is_dir():
        return None
    try:
        named = snapshots / (folder / "refs" / "main").read_text().strip()
        if named.is_dir():
            return named
    except OSError:
        pass
    found = [f for f in snapshots.iterdir() if f.is_dir() and not hidden(f.name)]
    return max(found, key=lambda f: f.stat().st_mtime) if found else None


def _split_of(file: Path) -> tuple[str, Path]:
    """A shard's split name and the folder of its data set: the first word of the file's name
    that names a split (``test.parquet``, the ``datasets`` cache's ``cifar10-train.arrow``; of the
    Hub's ``<split>-00000-of-00001.parquet`` shards, any name: ``unsupervised`` has no role), else
    its folder's name (``train/0000.parquet``, ``train/data-00000-of-00001.arrow``, the Hub's
    ``partial-train/`` of a large set's first rows), whose parent is then the set's folder. A shard
    named by neither is training data."""
    shard = _SHARD.match(file.name)
    if shard is not None and shard.group(1).lower() != "data":  # the Hub's shards: any split's name ("unsupervised")
        return shard.group(1), file.parent
    word = split_word(file.stem)
    if word is not None:
        return word, file.parent
    folder = file.parent.name.removeprefix("partial-")
    if split_role(folder) is not None:
        return folder, file.parent.parent
    return "train", file.parent


def _batches(file: Path, columns: list[str]) -> Iterator[Any]:
    """``file``'s record batches of ``columns``: a Parquet file's row groups a slice at a time; an
    Arrow file in the stream format ``save_to_disk`` writes, or the random-access one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if file.suffix.lower() == ".parquet":
            yield from pq.ParquetFile(file).iter_batches(batch_size=_BATCH_ROWS, columns=columns)
            return
        with pa.memory_map(str(file)) as source:
            try:
                reader: Any = pa.ipc.open_stream(source)
                batches = iter(reader)
            except pa.ArrowInvalid:
                source.seek(0)
                reader = pa.ipc.open_file(source)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            for batch in batches:
                yield batch.select(columns)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{file}: not a readable {file.suffix[1:]} file ({exc})") from None


def _schema(file: Path) -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # a dependency of lucid's, missing from this environment
        raise DataError(f"{file}: reading Parquet and Arrow files needs pyarrow; pip install pyarrow") from None

    try:
        if file.suffix.lower() == ".parquet":
            return pq.read_schema(file)
        with pa.memory_map(str(file)) as source:
            try:
                return pa.ipc.open_stream(source).schema
            except pa.ArrowInvalid:
                source.seek(0)
                return pa.ipc.open_file(source).schema
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{file}: not a readable {file.suffix[1:]} file ({exc})") from None


def _features(file: Path) -> dict[str, Any]:
    """Each column's ``datasets`` feature: recorded in the schema's ``huggingface`` metadata (or a
    ``dataset_info.json`` beside an Arrow file), else read from the Arrow types (a struct of
    ``bytes`` and ``path`` is an image)."""
    schema = _schema(file)
    recorded: dict[str, Any] = {}
    meta = (schema.metadata or {}).get(b"huggingface")
    try:
        if meta is not None:
            recorded = json.loads(meta).get("info", {}).get("features") or {}
        elif (file.parent / "dataset_info.json").is_file():
            recorded = json.loads((file.parent / "dataset_info.json").read_text()).get("features") or {}
    except (ValueError, OSError, AttributeError):
        recorded = {}
    return {field.name: recorded.get(field.name) or _arrow_feature(field.name, field.type) for field in schema}


_PHOTO_NAMES = ("image", "img", "photo", "picture", "pixel_values", "mask", "label", "annotation", "segmentation")


def _arrow_feature(name: str, kind: Any) -> dict[str, Any]:
    """A column's feature from its Arrow type alone: a struct of ``bytes`` and ``path`` (the
    ``datasets`` library's image), or a column of bytes whose name says it holds images (a
    Parquet file pandas wrote: ``image`` of encoded files), is an image."""
    import pyarrow as pa

    if pa.types.is_struct(kind) and {kind.field(i).name for i in range(kind.num_fields)} >= {"bytes", "path"}:
        return {"_type": "Image"}
    if (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)) and any(w in name.lower() for w in _PHOTO_NAMES):
        return {"_type": "Image"}
    return {"_type": "Value", "dtype": str(kind)}


def _is_image(feature: Any) -> bool:
    return isinstance(feature, dict) and feature.get("_type") == "Image"


def class_label_names(feature: Any) -> list[str] | None:
    """The class names of a ``ClassLabel`` feature, looked for inside a list or dict feature too
    (a ``Sequence`` of ``ClassLabel``, the ``category`` of an ``objects`` column); None without one."""
    if isinstance(feature, dict):
        if feature.get("_type") == "ClassLabel":
            names = feature.get("names")
            return [str(name) for name in names] if isinstance(names, list) else None
        inner = feature.get("feature") if feature.get("_type") in ("Sequence", "List", "LargeList") else None
        return class_label_names(inner) if inner is not None else None
    if isinstance(feature, list) and len(feature) == 1:
        return class_label_names(feature[0])
    return None


def image_bytes(cell: Any, root: Path) -> bytes | None:
    """The encoded file of an ``Image`` cell: its ``bytes``, else the file its ``path`` names
    (absolute, or below ``root``), or the cell itself in a column of bytes; None for an empty cell."""
    if isinstance(cell, bytes):  # a column of encoded files
        return cell or None
    if not isinstance(cell, dict):
        return None
    data = cell.get("bytes")
    if data:
        return bytes(data)
    name = cell.get("path")
    if name:
        for candidate in (Path(name), root / name):
            if candidate.is_file():
                return candidate.read_bytes()
    return None


def unpacked(hub: HubSet, extra: str, write: Callable[[Path], None], what: str) -> Path:
    """The cache folder ``write`` fills once from ``hub``'s rows (photos and what labels them, as
    files a task's own reader reads), keyed by the shards' paths, sizes and times and by ``extra``
    (what else decides the files). It is written into a temporary folder renamed into place, so a
    folder there is whole; a failed write leaves nothing."""
    return written_once(keyed_cache_folder("hub", hub.files(), extra), write, what)
