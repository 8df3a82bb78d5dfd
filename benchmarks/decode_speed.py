"""How fast a folder of photos is decoded into memory, the first thing a cached ``lucid train`` does.

``lucid train`` decodes every training and validation image once when the decoded set fits its
memory budget (docs/training.md, *Speed*), and that time counts against ``--time-budget``. This
times `lucid.data.decode_all` (loader processes, one per core, at most 8) against the same
per-file work (`lucid.data.load_image`, then `lucid.data.eval_base`) done in this process alone
and in a pool of threads, one per core, the way lucid decoded before, and against
``decode_all(reduced=True)``, the training sets' way: JPEGs at least twice the short side decode
at a reduced scale first. Each way runs ``--rounds`` times, alternating, on the same files; the
load is printed before and after, every whole-decoding way's tensor is checked to be the same,
and the reduced decoding's mean difference from it is printed (in levels of 255).

    python benchmarks/decode_speed.py [--data DIR ...] [--size 32] [--resize 32] [--rounds 2]

Default data: the sign-language photos at 96 px (short side 110, as ``lucid train`` stores them).
Folders given with ``--data`` (the small-photo proxy's ``train/`` and ``test/``, which
``benchmarks/small_photos_proxy.py --keep DIR`` builds) are decoded at 32 px unless told otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from lucid.data import decode_all, default_workers, eval_base, load_image, walk_images

REDUCED = "decode_all, reduced JPEG decoding"
SIGN_LANGUAGE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sign-language-digits" / "images"


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _one_by_one(files: Sequence[Path], size: int, resize: int, threads: int) -> torch.Tensor:
    """The per-file work in this process (``threads`` 1) or a thread pool of ``threads``."""
    base = eval_base(size, resize)
    out = torch.empty((len(files), 3, size, size), dtype=torch.uint8)

    def one(index: int) -> None:
        out[index] = base(load_image(files[index], 3))

    if threads == 1:
        for index in range(len(files)):
            one(index)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(one, range(len(files))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+")
    parser.add_argument("--size", type=int)
    parser.add_argument("--resize", type=int)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    roots = args.data or [SIGN_LANGUAGE]
    size = args.size or (32 if args.data else 96)
    resize = args.resize or (size if args.data else 110)
    cores = default_workers()
    ways: dict[str, Callable[[list[Path]], torch.Tensor]] = {
        "this process": lambda files: _one_by_one(files, size, resize, 1),
        f"{cores} threads (lucid before)": lambda files: _one_by_one(files, size, resize, cores),
        f"decode_all ({cores} loader processes)": lambda files: decode_all(files, 3, size, resize, progress=False),
        REDUCED: lambda files: decode_all(files, 3, size, resize, progress=False, reduced=True),
    }
    print(f"load before: {_load()}; {os.cpu_count()} cores, torch {torch.__version__}")
    for root in roots:
        files = walk_images(root)[0]  # every image below root, sorted
        print(f"{root}: {len(files)} images -> {size} px (short side {resize}, centre crop)")
        seconds: dict[str, list[float]] = {name: [] for name in ways}
        reference: torch.Tensor | None = None
        for _ in range(args.rounds):
            for name, way in ways.items():
                start = time.perf_counter()
                images = way(files)
                seconds[name].append(time.perf_counter() - start)
                if reference is None:
                    reference = images
                elif name == REDUCED and len(seconds[name]) == 1:
                    changed = (images.float() - reference.float()).abs()
                    print(f"  {name}: mean difference {changed.mean():.3f} levels, largest {changed.max():.0f}")
                elif name != REDUCED and not torch.equal(images, reference):
                    raise SystemExit(f"{name} decoded other pixels than the first way")
        first = min(seconds["this process"])
        for name, times in seconds.items():
            shown = ", ".join(f"{t:.1f}" for t in times)
            print(f"  {name:<34} {shown} s  ({len(files) / min(times):,.0f} img/s, {first / min(times):.2f}x)")
    print(f"load after: {_load()}")


if __name__ == "__main__":
    main()
