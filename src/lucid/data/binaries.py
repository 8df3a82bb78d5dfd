"""Photos stored in the binary files that MNIST and CIFAR are downloaded as:

- MNIST's (and Fashion-MNIST's, KMNIST's, EMNIST's) idx files, ``train-images-idx3-ubyte`` +
  ``train-labels-idx1-ubyte`` and ``t10k-*`` (Kaggle's ``train-images.idx3-ubyte``; gzipped or
  not; at ``DIR``, in ``DIR/raw/`` or ``DIR/MNIST/raw/`` as torchvision downloads them), read by
  torchvision's own reader: ``train`` trains, ``t10k`` validates; the classes are the digits;
- CIFAR-10's and CIFAR-100's batches, binary (``cifar-10-batches-bin/data_batch_1.bin`` ...,
  ``test_batch.bin`` and ``batches.meta.txt``; ``cifar-100-binary/train.bin`` + ``test.bin``) or
  Python's (``cifar-10-batches-py/``, ``cifar-100-python/``, as torchvision downloads them), the
  test batch validating, the classes named by the meta file;
- STL-10's ``stl10_binary/`` (``train_X.bin`` + ``train_y.bin``, ``test_*``, ``class_names.txt``;
  the unlabelled 100,000 are not read) and SVHN's cropped digits (``train_32x32.mat`` +
  ``test_32x32.mat``; ``extra_32x32.mat`` is not read), as torchvision downloads them and reads
  them (its classes insist on the original files' checksums, so the same reading is done here:
  a subset or a re-packed copy reads too);
- numpy's ``.npz`` archives of photo arrays: Keras' ``mnist.npz`` (``x_train``, ``y_train``,
  ``x_test``, ``y_test``) and MedMNIST's (``train_images``, ``train_labels``, ``val_*``,
  ``test_*``; the validation arrays validate and the test arrays are not read), loaded without
  pickles (``allow_pickle=False``); photos and labels as `lucid.data.npyarrays` reads ``.npy``
  files (floats in [0, 1] scaled by 255, one-hot labels).

Python's batches are pickles. A pickle can run code, so they are read by an unpickler that builds
nothing but numpy arrays, lists, dicts and strings (`_ArraysOnly`); torchvision's CIFAR10 would
unpickle them whole. The photos are written once as PNG files into lucid's cache
(`lucid.data.pixels.cached_photos`) and read as class folders from there.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lucid.data.emnist import chosen_variant, emnist_notes, mapping_names, variant_of
from lucid.data.files import FolderLayout, subfolders
from lucid.data.hub import class_label_names, hub_set, image_bytes
from lucid.data.npyarrays import is_labels, labels_of, photo_shape, photos_of
from lucid.data.pixels import cached_photos
from lucid.errors import DataError

__all__ = ["binary_layout", "hub_layout", "mnist_files", "cifar_folder", "stl_folder", "svhn_files", "npz_file"]

_IDX = re.compile(r"(?:emnist-([a-z]+)-)?(train|t10k|test)-(images|labels)[-.]idx[13]-ubyte(\.gz)?", re.IGNORECASE)
_CIFAR_FOLDERS = ("cifar-10-batches-bin", "cifar-10-batches-py", "cifar-100-binary", "cifar-100-python")
Rows = Callable[[], Iterator[tuple[int, str | None, str, np.ndarray]]]


def mnist_files(root: Path) -> dict[tuple[str, str], Path] | None:
    """MNIST's four idx files by (``train`` or ``t10k``, ``images`` or ``labels``), looked for at
    ``root``, in ``root/raw``, ``root/gzip`` (EMNIST's ``gzip.zip``) and in ``root/<name>/raw``
    (torchvision's download); None unless the training images and labels are there. Of EMNIST's
    variants (``emnist-balanced-test-images-idx3-ubyte``: its ``test`` is MNIST's ``t10k``) one is
    read (`lucid.data.emnist.chosen_variant`)."""
    places = [root, root / "raw", root / "gzip", *(folder / "raw" for folder in subfolders(root))]
    for place in places:
        try:
            names = [e.name for e in os.scandir(place) if e.is_file()]
        except OSError:
            continue
        variants: dict[str, dict[tuple[str, str], Path]] = {}
        for name in sorted(names, key=lambda n: n.endswith(".gz")):  # the unpacked file first
            match = _IDX.fullmatch(name)
            if match is not None:
                part = "t10k" if match.group(2).lower() == "test" else match.group(2).lower()
                found = variants.setdefault((match.group(1) or "").lower(), {})
                found.setdefault((part, match.group(3).lower()), place / name)
        whole = [v for v, found in variants.items() if ("train", "images") in found and ("train", "labels") in found]
        if whole:
            return variants["" if "" in whole else chosen_variant(whole)[0]]
    return None


def _idx(path: Path) -> np.ndarray:
    """An idx file's array, by torchvision's reader (a gzipped one is unpacked into memory first)."""
    from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor

    try:
        if path.suffix == ".gz":
            import tempfile

            with gzip.open(path, "rb") as packed, tempfile.NamedTemporaryFile(suffix=".idx") as plain:
                plain.write(packed.read())
                plain.flush()
                return read_sn3_pascalvincent_tensor(plain.name).numpy()
        return read_sn3_pascalvincent_tensor(str(path)).numpy()
    except (AssertionError, KeyError, OSError, EOFError, RuntimeError, ValueError) as exc:
        raise DataError(f"{path}: not a readable idx file ({type(exc).__name__}: {exc})") from None


def _mnist_rows(files: dict[tuple[str, str], Path], transposed: bool, names: dict[str, str] | None) -> Rows:
    """The photos of MNIST's idx files; EMNIST's (``transposed``) turned upright, their labels named."""

    def rows() -> Iterator[tuple[int, str | None, str, np.ndarray]]:
        for part, role in (("train", "train"), ("t10k", "val")):
            if (part, "images") not in files or (part, "labels") not in files:
                continue
            images, labels = _idx(files[part, "images"]), _idx(files[part, "labels"])
            if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
                raise DataError(
                    f"{files[part, 'images']}: expected N photos and N labels, got shapes {images.shape} and "
                    f"{labels.shape}"
                )
            for number, (photo, label) in enumerate(zip(images, labels, strict=True), 1):
                text = str(int(label))
                yield number, (names or {}).get(text, text), role, (photo.T if transposed else photo).astype(np.uint8)

    return rows


def cifar_folder(root: Path) -> Path | None:
    """CIFAR's batch folder: ``root`` itself or one of its folders, by CIFAR's folder names."""
    for place in (root, *subfolders(root)):
        if place.name.lower() in _CIFAR_FOLDERS:
            return place
    return None


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers only: any other global a pickle names (a
    function it would call) is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"a pickle that builds {module}.{name}, not only arrays")
        return super().find_class(module, name)


def _batch(path: Path) -> dict[str, Any]:
    """One CIFAR Python batch, its keys as text (the files were written by Python 2)."""
    try:
        with path.open("rb") as handle:
            data = _ArraysOnly(io.BytesIO(handle.read()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, AttributeError) as exc:
        raise DataError(f"{path}: not a CIFAR batch of arrays ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: not a CIFAR batch (a {type(data).__name__}, not a dict)")
    return {(k.decode() if isinstance(k, bytes) else str(k)): v for k, v in data.items()}


def _texts(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _cifar_parts(folder: Path) -> tuple[list[tuple[Path, str]], list[str], int]:
    """CIFAR's batch files with their role (the test batch validates), its class names and the
    label bytes before each binary record (CIFAR-100's coarse and fine labels: 2)."""
    hundred = "100" in folder.name
    binary = folder.name.lower().endswith(("-bin", "-binary"))
    if hundred:
        names = ("train.bin", "test.bin") if binary else ("train", "test")
        files = [(folder / names[0], "train"), (folder / names[1], "val")]
    else:
        suffix = ".bin" if binary else ""
        files = [(folder / f"data_batch_{i}{suffix}", "train") for i in range(1, 6)]
        files.append((folder / f"test_batch{suffix}", "val"))
    files = [(path, role) for path, role in files if path.is_file()]
    if not any(role == "train" for _, role in files):
        raise DataError(f"{folder}: no CIFAR training batch (data_batch_1 ..., or train)")
    if binary:
        meta = folder / ("fine_label_names.txt" if hundred else "batches.meta.txt")
        classes = [line.strip() for line in meta.read_text().splitlines() if line.strip()] if meta.is_file() else []
    else:
        meta = folder / ("meta" if hundred else "batches.meta")
        classes = (
            _texts(_batch(meta).get("fine_label_names" if hundred else "label_names", [])) if meta.is_file() else []
        )
    return files, classes, 2 if hundred else 1


def _cifar_rows(folder: Path) -> tuple[Rows, list[Path]]:
    files, classes, label_bytes = _cifar_parts(folder)
    binary = folder.name.lower().endswith(("-bin", "-binary"))

    def named(label: int) -> str:
        return classes[label] if label < len(classes) else str(label)

    def rows() -> Iterator[tuple[int, str | None, str, np.ndarray]]:
        number = 0
        for path, role in files:
            if binary:
                record = label_bytes + 3072
                raw = np.fromfile(path, dtype=np.uint8)
                if raw.size % record:
                    raise DataError(f"{path}: not CIFAR records of {record} bytes ({raw.size} bytes)")
                raw = raw.reshape(-1, record)
                labels, pixels = raw[:, label_bytes - 1], raw[:, label_bytes:]
            else:
                batch = _batch(path)
                labels = np.asarray(batch.get("labels", batch.get("fine_labels", [])))
                pixels = np.asarray(batch.get("data", []), dtype=np.uint8)
                if pixels.ndim != 2 or pixels.shape[1] != 3072 or len(labels) != len(pixels):
                    raise DataError(f"{path}: expected 'data' of N x 3072 bytes and N labels")
            for label, flat in zip(labels, pixels, strict=True):
                number += 1
                yield number, named(int(label)), role, flat.reshape(3, 32, 32).transpose(1, 2, 0)

    return rows, [path for path, _ in files]


STL_FOLDER = "stl10_binary"
STL_SIDE = 96
SVHN_FILES = {"train": "train_32x32.mat", "val": "test_32x32.mat"}


def stl_folder(root: Path) -> Path | None:
    """STL-10's ``stl10_binary/`` at ``root`` or one of its folders (or ``root`` itself), when it
    holds the training images and labels."""
    for place in (root, *subfolders(root)):
        folder = place if place.name.lower() == STL_FOLDER else place / STL_FOLDER
        if (folder / "train_X.bin").is_file() and (folder / "train_y.bin").is_file():
            return folder
    return None


def _stl_rows(folder: Path) -> tuple[Rows, list[Path]]:
    """STL-10's labelled files: 96 x 96 colour photos stored channel by channel, each channel
    column by column (torchvision transposes them alike), labels 1..10 named by ``class_names.txt``."""
    names_file = folder / "class_names.txt"
    classes = (
        [line.strip() for line in names_file.read_text().splitlines() if line.strip()] if names_file.is_file() else []
    )
    parts = [
        (part, role) for part, role in (("train", "train"), ("test", "val")) if (folder / f"{part}_X.bin").is_file()
    ]
    side = STL_SIDE * STL_SIDE * 3

    def rows() -> Iterator[tuple[int, str | None, str, np.ndarray]]:
        number = 0
        for part, role in parts:
            pixels = np.fromfile(folder / f"{part}_X.bin", dtype=np.uint8)
            labels = np.fromfile(folder / f"{part}_y.bin", dtype=np.uint8)
            if pixels.size % side or pixels.size // side != labels.size:
                raise DataError(
                    f"{folder / f'{part}_X.bin'}: expected {labels.size} photos of {side} bytes (one per label in "
                    f"{part}_y.bin), got {pixels.size} bytes"
                )
            photos = pixels.reshape(-1, 3, STL_SIDE, STL_SIDE).transpose(0, 3, 2, 1)
            for label, photo in zip(labels, photos, strict=True):
                number += 1
                index = int(label) - 1  # STL-10 counts its classes from 1
                yield number, classes[index] if 0 <= index < len(classes) else str(int(label)), role, photo

    return rows, [folder / f"{part}_{kind}.bin" for part, _ in parts for kind in ("X", "y")]


def svhn_files(root: Path) -> dict[str, Path] | None:
    """SVHN's cropped-digit files by role at ``root`` (torchvision's root), when the training file is there."""
    found = {role: root / name for role, name in SVHN_FILES.items() if (root / name).is_file()}
    return found if "train" in found else None


def _svhn_rows(files: dict[str, Path]) -> Rows:
    """SVHN's ``X`` (32 x 32 x 3 x N) and ``y`` (N x 1; the digit 0 is labelled 10), read by
    scipy's loadmat as torchvision reads them."""
    from scipy.io import loadmat

    def rows() -> Iterator[tuple[int, str | None, str, np.ndarray]]:
        number = 0
        for role, path in files.items():
            try:
                data = loadmat(str(path), variable_names=("X", "y"))
                photos, labels = np.asarray(data["X"], dtype=np.uint8), np.asarray(data["y"]).reshape(-1)
            except (KeyError, ValueError, TypeError, OSError, NotImplementedError) as exc:
                raise DataError(f"{path}: not SVHN's MATLAB file of X and y ({type(exc).__name__}: {exc})") from None
            if photos.ndim != 4 or photos.shape[2] != 3 or photos.shape[3] != labels.size:
                raise DataError(
                    f"{path}: expected X of 32 x 32 x 3 x N and N labels, got {photos.shape} and {labels.size}"
                )
            for index, label in enumerate(labels):
                number += 1
                yield number, str(int(label) % 10), role, photos[:, :, :, index]

    return rows


# The arrays of an .npz archive by role, (photos, labels), the first pair present of each role.
NPZ_ARRAYS = {
    "train": (("train_images", "train_labels"), ("x_train", "y_train")),
    "val": (("val_images", "val_labels"), ("x_val", "y_val"), ("test_images", "test_labels"), ("x_test", "y_test")),
}


def npz_file(root: Path) -> Path | None:
    """The one ``.npz`` archive at ``root`` that holds training photos and labels (`NPZ_ARRAYS`);
    None without one; several are a DataError naming them (each is a whole data set)."""
    try:
        candidates = sorted(Path(e.path) for e in os.scandir(root) if e.is_file() and e.name.lower().endswith(".npz"))
    except OSError:
        return None
    found = [file for file in candidates if _npz_pairs(file).get("train") is not None]
    if len(found) > 1:
        shown = ", ".join(file.name for file in found)
        raise DataError(
            f"--data {root}: several .npz data sets ({shown}); keep one in the folder, or give each its own"
        )
    return found[0] if found else None


def _npz_pairs(file: Path) -> dict[str, tuple[str, str]]:
    """The (photos, labels) array names of each role ``file`` holds; {} for no readable archive."""
    try:
        with np.load(file, allow_pickle=False) as archive:
            names = set(archive.files)
    except (OSError, ValueError, EOFError):
        return {}
    found = {}
    for role, pairs in NPZ_ARRAYS.items():
        pair = next((p for p in pairs if set(p) <= names), None)
        if pair is not None:
            found[role] = pair
    return found


def _npz_rows(file: Path) -> Rows:
    """An .npz archive's photos (N x H x W grey, or N x H x W x 3) and labels (N, or N x 1)."""

    def rows() -> Iterator[tuple[int, str | None, str, np.ndarray]]:
        number = 0
        with np.load(file, allow_pickle=False) as archive:
            for role, (photos_key, labels_key) in _npz_pairs(file).items():
                photos, labels = archive[photos_key], np.asarray(archive[labels_key])
                if labels.ndim == 2 and labels.shape[1] > 1 and not is_labels(labels):
                    raise DataError(
                        f"{file}: {labels_key} holds {labels.shape[1]} labels per photo; lucid trains one class per "
                        "photo (a multi-label set)"
                    )
                if photo_shape(photos) is None or not is_labels(labels) or len(photos) != len(labels):
                    raise DataError(
                        f"{file}: expected {photos_key} of N x H x W (x 3) photos and N labels, got "
                        f"{photos.shape} {photos.dtype} and {labels.shape} {labels.dtype}"
                    )
                for photo, label in zip(photos_of(photos, file), labels_of(labels), strict=True):
                    number += 1
                    yield number, label, role, photo

    return rows


def binary_layout(root: str | os.PathLike[str]) -> FolderLayout | None:
    """``root`` as MNIST's idx files (`mnist_files`), CIFAR's batches (`cifar_folder`), STL-10's
    binary files (`stl_folder`), SVHN's MATLAB files (`svhn_files`) or an .npz archive of arrays
    (`npz_file`: Keras' mnist.npz, MedMNIST's), written once as PNG files
    into the cache and read as class folders: the training files train, the test files validate.
    None when ``root`` holds none of them."""
    base = Path(root).expanduser()
    if not base.is_dir():
        return None
    mnist = mnist_files(base)
    notes = []
    if mnist is not None:
        where = mnist["train", "images"].parent
        variant = variant_of(mnist["train", "images"].name)
        names = None if variant is None else mapping_names(where, variant)
        rows: Rows = _mnist_rows(mnist, variant is not None, names)
        sources, labels = sorted(mnist.values()), f"MNIST's idx files in {where.name}/"
        if variant is not None:
            labels = f"EMNIST's {variant} idx files in {where.name}/"
            notes = emnist_notes(base, where, variant, names)
    elif (folder := cifar_folder(base)) is not None:
        rows, sources = _cifar_rows(folder)
        labels = f"CIFAR's batches in {folder.name}/"
    elif (folder := stl_folder(base)) is not None:
        rows, sources = _stl_rows(folder)
        labels = f"STL-10's binary files in {folder.name}/"
    elif (svhn := svhn_files(base)) is not None:
        rows, sources = _svhn_rows(svhn), sorted(svhn.values())
        labels = "SVHN's MATLAB files " + " + ".join(path.name for path in svhn.values())
    elif (archive := npz_file(base)) is not None:
        rows, sources = _npz_rows(archive), [archive]
        labels = f"the arrays of {archive.name}"
    else:
        return None
    parts = cached_photos(sources, "binary", rows, str(base))
    notes = [f"{base}: {labels}, written once as PNG files into {parts['train'].folder.parent}", *notes]
    if "val" not in parts:
        return FolderLayout(parts["train"].folder, "single", parts["train"], None, notes, labels=labels, source=base)
    return FolderLayout(base, "train_test", parts["train"], parts["val"], notes, "the test files", labels)


_LABEL_NAMES = ("label", "labels", "fine_label", "class", "category", "target", "y")  # a label column's usual names


def hub_layout(root: str | os.PathLike[str]) -> FolderLayout | None:
    """``root`` as a Hugging Face data set of photos and a class (`lucid.data.hub`: CIFAR-10's
    ``img`` + ``label``, beans' ``image`` + ``labels``), written once into the cache as class
    folders named by the ``ClassLabel`` names: the train split trains, ``validation`` (else
    ``test``) validates, a set of one split is split by seed. Rows labelled -1 (an unlabelled
    test split) are not read. None when ``root`` holds no Hugging Face files, or its rows hold no
    one photo and one class (two photos a row are segmentation's, boxes detection's)."""
    base = Path(root).expanduser()
    hub = hub_set(base) if base.is_dir() else None
    if hub is None:
        return None
    images = hub.image_columns()
    column = _label_column(hub.features)
    if len(images) != 1 or column is None:
        return None
    names = class_label_names(hub.features[column])
    val_role = "val" if "val" in hub.splits else "test"

    def rows() -> Iterator[tuple[int, str | None, str, bytes]]:
        number = 0
        for role in [r for r in hub.splits if r in ("train", val_role)]:  # a test split beside a validation one: unread
            for row in hub.rows(role, [images[0], column]):
                number += 1
                label, data = row[column], image_bytes(row[images[0]], hub.root)
                if label is None or label == -1 or data is None:
                    continue
                name = (
                    names[label] if names is not None and isinstance(label, int) and 0 <= label < len(names) else label
                )
                yield number, str(name), "val" if role == val_role else role, data

    parts = cached_photos(hub.files(), f"hub|{images[0]}|{column}", rows, str(base))
    labels = f"{hub.describe()}, photos in column {images[0]!r}, classes in {column!r}"
    notes = [f"{base}: {labels}, written once as files into {parts['train'].folder.parent}"]
    if "val" in hub.splits and "test" in hub.splits:
        notes.append(f"{base}: its {hub.split_names['test']} split is not used (its validation split validates)")
    if "val" not in parts:
        return FolderLayout(parts["train"].folder, "single", parts["train"], None, notes, labels=labels, source=base)
    kind = "train_val" if val_role == "val" else "train_test"
    return FolderLayout(
        base, kind, parts["train"], parts["val"], notes, f"its {hub.split_names[val_role]} split", labels
    )


def _label_column(features: dict[str, Any]) -> str | None:
    """The column of a row's class: a ``ClassLabel`` (``label``, ``fine_label`` before CIFAR-100's
    ``coarse_label``; else the one of most classes), else a whole-number or text column of a
    label's usual name."""
    labelled = [name for name, f in features.items() if isinstance(f, dict) and f.get("_type") == "ClassLabel"]
    if labelled:
        named = [name for name in _LABEL_NAMES if name in labelled]
        return named[0] if named else max(labelled, key=lambda name: len(class_label_names(features[name]) or []))
    plain = {name.lower(): name for name, f in features.items() if isinstance(f, dict) and f.get("_type") == "Value"}
    for name in _LABEL_NAMES:
        dtype = str(features[plain[name]].get("dtype", "")) if name in plain else ""
        if dtype.startswith(("int", "uint", "string", "large_string")):
            return plain[name]
    return None
