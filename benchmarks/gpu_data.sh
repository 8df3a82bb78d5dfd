#!/usr/bin/env bash
# Builds what benchmarks/gpu_check.sh needs on a lent GPU machine, which reaches nothing outside it:
# .devdata/ (the sign-language digits and CamVid whole, BCCD's first 120 training and 40 validation
# photos of its lists) copied from ../shared/data (which does not travel), and .whl/ (faster-coco-eval
# and pycocotools wheels for the device's python3, 3.12 unless PYVER says otherwise; skipped when no
# package index answers). Both are git-ignored: carry them, [".devdata", ".whl"], about 62 MB of the
# 64 MiB a run may carry.
#   bash benchmarks/gpu_data.sh            # then: OUT=$OUT bash benchmarks/gpu_check.sh on the device
set -euo pipefail
SRC=${SRC:-../shared/data}
DST=${DST:-.devdata}
PYVER=${PYVER:-3.12}
for set in sign-language-digits camvid bccd; do
    [ -d "$SRC/$set" ] || { echo "gpu_data.sh: expected $SRC/$set, found nothing there" >&2; exit 1; }
done
rm -rf "$DST.tmp"
mkdir -p "$DST.tmp/bccd/Annotations" "$DST.tmp/bccd/JPEGImages" "$DST.tmp/bccd/ImageSets/Main"
cp -r "$SRC/sign-language-digits" "$SRC/camvid" "$DST.tmp/"
head -n 120 "$SRC/bccd/ImageSets/Main/train.txt" > "$DST.tmp/bccd/ImageSets/Main/train.txt"
head -n 40 "$SRC/bccd/ImageSets/Main/val.txt" > "$DST.tmp/bccd/ImageSets/Main/val.txt"
while read -r id; do
    cp "$SRC/bccd/Annotations/$id.xml" "$DST.tmp/bccd/Annotations/"
    cp "$SRC/bccd/JPEGImages/$id.jpg" "$DST.tmp/bccd/JPEGImages/"
done < <(cat "$DST.tmp/bccd/ImageSets/Main/train.txt" "$DST.tmp/bccd/ImageSets/Main/val.txt")
rm -rf "$DST" && mv "$DST.tmp" "$DST"  # whole or not at all
python3 -m pip download -q faster-coco-eval pycocotools --no-deps --python-version "$PYVER" --only-binary :all: -d .whl \
    || echo "gpu_data.sh: no wheels downloaded (no package index?); the device needs faster-coco-eval for detection"
du -sh "$DST" .whl 2>/dev/null || true
