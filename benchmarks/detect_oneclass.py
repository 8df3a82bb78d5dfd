"""One-class detection sets in two more layouts, made from BCCD, trained with no flag but --task detect.

    python benchmarks/detect_oneclass.py                       # both sets, --time-budget 4
    python benchmarks/detect_oneclass.py --minutes 12 --sets platelets
    python benchmarks/detect_oneclass.py --minutes 0           # no budget: the default 60 epochs
    python benchmarks/detect_oneclass.py --minutes 0 --epochs 4 --sets wbc --min-negatives 0  # any load

The sets are written to a temporary folder (never into the repository) from BCCD's VOC files:

- ``wbc``: the white cells (about one per photo, large) as YOLO text files: ``images/`` +
  ``labels/`` + ``classes.txt``, no split (lucid draws its seeded one);
- ``platelets``: the platelets (small; 130 of the 292 photos have none) as COCO JSON:
  ``images/`` + ``annotations/instances_default.json``.

Each is trained by the real command line, ``lucid train --task detect --data DIR
[--time-budget M]``, and scored by ``lucid eval RUN/best.safetensors --data DIR --json`` on the
split the run recorded. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "bccd"
SETS = ("wbc", "platelets")


def _objects(voc: Path, photo_id: str) -> tuple[int, int, list[tuple[str, list[float]]]]:
    """Width, height and ``(class name, [x1, y1, x2, y2])`` of each box of one VOC file."""
    root = ET.parse(voc / "Annotations" / f"{photo_id}.xml").getroot()
    width, height = int(root.findtext("size/width", "0")), int(root.findtext("size/height", "0"))
    boxes = []
    for item in root.iter("object"):
        box = item.find("bndbox")
        corners = [float(box.findtext(k, "0")) for k in ("xmin", "ymin", "xmax", "ymax")] if box is not None else []
        boxes.append((item.findtext("name", ""), corners))
    return width, height, boxes


def write_yolo(voc: Path, out: Path, name: str) -> Path:
    """The photos with only the ``name`` boxes, as YOLO text files and ``classes.txt``."""
    (out / "images").mkdir(parents=True)
    (out / "labels").mkdir()
    (out / "classes.txt").write_text(f"{name}\n")
    for photo in sorted((voc / "JPEGImages").glob("*.jpg")):
        width, height, boxes = _objects(voc, photo.stem)
        shutil.copy(photo, out / "images" / photo.name)
        lines = [
            " ".join(
                ["0", *(f"{v:.6f}" for v in ((x1 + x2) / 2 / width, (y1 + y2) / 2 / height))]
                + [f"{(x2 - x1) / width:.6f}", f"{(y2 - y1) / height:.6f}"]
            )
            for label, (x1, y1, x2, y2) in boxes
            if label == name
        ]
        (out / "labels" / f"{photo.stem}.txt").write_text("".join(f"{line}\n" for line in lines))
    return out


def write_coco(voc: Path, out: Path, name: str) -> Path:
    """The photos with only the ``name`` boxes, as one COCO JSON file."""
    (out / "images").mkdir(parents=True)
    (out / "annotations").mkdir()
    data: dict[str, list] = {"images": [], "annotations": [], "categories": [{"id": 1, "name": name.lower()}]}
    for number, photo in enumerate(sorted((voc / "JPEGImages").glob("*.jpg")), start=1):
        width, height, boxes = _objects(voc, photo.stem)
        shutil.copy(photo, out / "images" / photo.name)
        data["images"].append({"id": number, "file_name": photo.name, "width": width, "height": height})
        for label, (x1, y1, x2, y2) in boxes:
            if label == name:
                box = [x1, y1, x2 - x1, y2 - y1]
                area = box[2] * box[3]
                entry = {"image_id": number, "category_id": 1, "bbox": box, "area": area, "iscrowd": 0}
                data["annotations"].append({"id": len(data["annotations"]) + 1, **entry})
    (out / "annotations" / "instances_default.json").write_text(json.dumps(data))
    return out


def run(data: Path, out: Path, minutes: float, flags: list[str]) -> dict:
    """``lucid train --task detect`` on ``data`` (with ``--time-budget`` unless 0, and ``flags``),
    then ``lucid eval --json``."""
    command = [sys.executable, "-m", "lucid", "train", "--task", "detect", "--data", str(data), "--out", str(out)]
    command += ["--no-progress", *flags] + (["--time-budget", f"{minutes:g}"] if minutes else [])
    subprocess.run(command, check=True)
    evaluated = subprocess.run(
        [sys.executable, "-m", "lucid", "eval", str(out / "best.safetensors"), "--data", str(data), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(evaluated.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BCCD in its VOC layout")
    parser.add_argument("--minutes", type=float, default=4.0, help="--time-budget per set (0: none)")
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--epochs", type=int, help="a fixed epoch count (with --minutes 0: one run under any load)")
    parser.add_argument("--min-negatives", type=int, help="lucid train's --min-negatives (default: lucid's)")
    parser.add_argument(
        "--train-flag",
        action="append",
        default=[],
        metavar="FLAG",
        help="a further lucid train flag (--train-flag=--ema)",
    )
    args = parser.parse_args()
    flags = [] if args.epochs is None else ["--epochs", str(args.epochs)]
    flags += [] if args.min_negatives is None else ["--min-negatives", str(args.min_negatives)]
    flags += args.train_flag
    print(f"load average before: {os.getloadavg()}; cores: {os.cpu_count()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="lucid-oneclass-") as tmp:
        work = Path(tmp)
        makers = {
            "wbc": lambda: write_yolo(args.data, work / "wbc", "WBC"),
            "platelets": lambda: write_coco(args.data, work / "platelets", "Platelets"),
        }
        for name in args.sets:
            result = run(makers[name](), work / "runs" / name, args.minutes, flags)
            rows.append((name, result["map50"], result["map"]))
    print(f"load average after: {os.getloadavg()}")
    print("\n| set | val mAP@0.5 | mAP@[.5:.95] |\n|---|---:|---:|")
    for name, map50, map_all in rows:
        print(f"| {name} | {100 * (map50 or 0):.1f} % | {100 * (map_all or 0):.1f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
