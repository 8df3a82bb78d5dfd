"""Label Studio's exports, as every task reads them: which photo a task names (`task_photo`), which
of its annotations counts (`task_results`), and a classification project's choices as a label
table (`read_studio_choices`). Detection and segmentation read the same tasks' regions
(`lucid.detect.formats`).

Two export shapes exist: **JSON** (a list of tasks, each with ``data`` naming the photo and
``annotations`` holding ``result`` items; ``completions`` before Label Studio 1.0) and
**JSON-MIN** (one flat entry per photo: ``image``, and each control's answer under its name). The
photo is a path or URL as Label Studio stored it: an upload ``/data/upload/1/1a2b3c4d-cat.jpg``
(the user's folder holds ``cat.jpg``: `upload_name`), a local-storage URL
``/data/local-files/?d=images/cat.jpg``, or a cloud URL. The files are read with the standard
library's ``json``: Label Studio's own converter is a server-side package, not a reader.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from lucid.data.files import IMAGE_SUFFIXES
from lucid.data.tables import MAX_TABLE_BYTES, LabelTable
from lucid.errors import DataError

__all__ = ["task_photo", "task_results", "upload_name", "is_studio_choices", "read_studio_choices"]

_UPLOAD = re.compile(r"^[0-9a-f]{8}-(.+)$")  # an uploaded file's stored name: 8 hex digits, "-", its own name
CHOICE_KEY = "choice"  # the answer's name in Label Studio's image-classification template (its JSON-MIN, CSV)


def task_photo(task: Mapping[str, Any]) -> str | None:
    """The photo a task names (its ``data``; a JSON-MIN entry itself): ``image``, else the first
    value with a photo's suffix, as a path: a local-storage URL's ``?d=`` path, a URL's path, or
    the path as written. None when it names none."""
    data = task.get("data")
    fields: Mapping[str, Any] = data if isinstance(data, dict) else task
    value = fields.get("image")
    if not isinstance(value, str):
        value = next((v for v in fields.values() if isinstance(v, str) and _photo_suffix(v)), None)
    if not value:
        return None
    if "?d=" in value:
        return unquote(value.split("?d=", 1)[1])
    if "://" in value:  # http(s), s3, gs ...: the URL's path
        return unquote(urlparse(value).path) or value
    return value


def _photo_suffix(value: str) -> bool:
    return PurePosixPath(urlparse(value).path).suffix.lower() in IMAGE_SUFFIXES


def upload_name(name: str) -> str | None:
    """The user's own name of a photo Label Studio stored as an upload
    (``/data/upload/1/1a2b3c4d-cat.jpg`` -> ``cat.jpg``), else None."""
    path = PurePosixPath(name.replace("\\", "/"))
    found = _UPLOAD.match(path.name)
    return found.group(1) if found is not None and "upload" in path.parts[:-1] else None


def task_results(task: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The result items of the annotation that counts: the ground truth's, else the first that
    was not cancelled. None when the task has none (not labelled: only predictions, or none)."""
    annotations = task.get("annotations", task.get("completions"))
    done = [a for a in annotations or [] if isinstance(a, dict) and isinstance(a.get("result"), list)]
    done = [a for a in done if not a.get("was_cancelled")]
    if not done:
        return None
    chosen = next((a for a in done if a.get("ground_truth")), done[0])
    return [r for r in chosen["result"] if isinstance(r, dict)]


def is_studio_choices(file: Path, head: int = 65536) -> bool:
    """Whether ``file``'s opening bytes are a Label Studio export of choices: a JSON list of tasks
    whose results are ``choices`` (JSON), or of entries with ``image`` and ``choice`` (JSON-MIN)."""
    try:
        with file.open("rb") as handle:
            text = handle.read(head).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return False
    if not text.startswith(b"["):
        return False
    export = b'"annotations"' in text and re.search(rb'"type"\s*:\s*"choices"', text) is not None
    return export or (b'"image"' in text and f'"{CHOICE_KEY}"'.encode() in text)


def read_studio_choices(file: Path) -> LabelTable | None:
    """The ``(photo, class)`` of each labelled task of a Label Studio export of one choice per
    photo (`is_studio_choices`), or None when ``file`` is not one. A task of several choices (a
    multi-label project) is a DataError naming it; tasks not labelled are left out."""
    if file.stat().st_size > MAX_TABLE_BYTES or not is_studio_choices(file):
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{file}: not a readable Label Studio JSON export ({exc})") from None
    rows = []
    for task in data if isinstance(data, list) else []:
        if not isinstance(task, dict) or (name := task_photo(task)) is None:
            continue
        chosen = _choices(task)
        if chosen is None:
            continue
        if len(chosen) != 1:
            raise DataError(
                f"{file}: {name} has {len(chosen)} choices ({', '.join(chosen)}); a classifier needs one class per "
                "photo (a multi-label export is not read)"
            )
        rows.append((name, chosen[0]))
    return LabelTable(file, "image", "choices", rows) if rows else None


def _choices(task: Mapping[str, Any]) -> list[str] | None:
    """A task's chosen classes: its counted annotation's ``choices`` (JSON), or a JSON-MIN entry's
    ``choice`` (a string, or ``{"choices": [...]}`` when several were allowed); None: not labelled."""
    if "data" not in task:
        value = task.get(CHOICE_KEY)
        value = value.get("choices") if isinstance(value, dict) else [value] if isinstance(value, str) else None
        return [str(v).strip() for v in value] if isinstance(value, list) else None
    results = task_results(task)
    if results is None:
        return None
    chosen = [
        str(c).strip()
        for r in results
        if r.get("type") == "choices" and isinstance(r.get("value"), dict)
        for c in r["value"].get("choices") or []
    ]
    return chosen or None
