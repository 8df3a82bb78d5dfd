"""Every code snippet in the README and in docs/ runs here, so the documentation stays true.

- ``python`` blocks run, in page order, in one namespace per page, inside a scratch folder that
  holds what the snippets name: a ``photos/`` folder of class folders, registered weights in a
  private weights cache (``LUCID_HOME``, files built from torchvision's own models: nothing is
  downloaded), torchvision and timm checkpoint files. ``>>>`` prompts are stripped and the
  printed output lines after them are skipped.
- ``bash`` blocks: every line that starts with ``lucid`` is parsed by lucid's own argument parser
  (sub-command and flags must exist); lines of other programs are not run.
- A block preceded by ``<!-- docs-test: skip REASON -->`` is skipped, and ``slow`` marks a block
  that runs only with ``-m slow`` (``<!-- docs-test: slow -->``).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Generated reports are not hand-written snippets.
SKIP_PAGES = {"docs/benchmarks.md"}
FENCE = re.compile(r"^```(\w*)\s*$")
MARK = re.compile(r"<!--\s*docs-test:\s*(skip|slow)\b(.*?)-->")


@dataclass
class Block:
    page: str
    line: int
    lang: str
    code: str
    mark: str | None
    reason: str


def _pages() -> list[str]:
    pages = ["README.md"] + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md"))
    return [p for p in pages if p not in SKIP_PAGES and not p.startswith("docs/api/")]


def _blocks(page: str) -> list[Block]:
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        start, lang, body = i, opened.group(1), []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        previous = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        mark = MARK.search(previous)
        blocks.append(
            Block(page, start + 1, lang, "\n".join(body), mark.group(1) if mark else None,
                  mark.group(2).strip() if mark else "")
        )
        i += 1
    return blocks


def _python_source(code: str) -> str:
    """A doctest-style block as plain code (prompts stripped, output lines dropped)."""
    if not code.lstrip().startswith(">>>"):
        return code
    kept = []
    for line in code.splitlines():
        if line.startswith(">>> ") or line == ">>>":
            kept.append(line[4:])
        elif line.startswith("... ") or line == "...":
            kept.append(line[4:])
    return "\n".join(kept)


def _lucid_commands(code: str) -> list[list[str]]:
    commands = []
    for raw in code.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line.startswith("$ "):
            line = line[2:]
        if line.startswith("lucid "):
            commands.append(shlex.split(line)[1:])
    return commands


def _foreign_model(name: str, num_classes: int):
    """torchvision's own network for a registered weights entry, randomly initialised."""
    import torchvision

    kwargs = {"weights": None, "num_classes": num_classes}
    if name.startswith(("lraspp", "deeplab", "fcn", "ssd")):
        kwargs["weights_backbone"] = None
    return torchvision.models.get_model(name, **kwargs)


@pytest.fixture(scope="module")
def docs_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch folder with the files the snippets name (see the module docstring)."""
    import numpy as np
    import torch
    from PIL import Image

    from lucid.models import list_weights

    root = tmp_path_factory.mktemp("docs")
    rng = np.random.default_rng(0)
    for label, name in enumerate(("cat", "dog")):
        folder = root / "photos" / name
        folder.mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 80, (40, 40, 3), dtype=np.uint8) + np.uint8(120 * label)
            Image.fromarray(pixels).save(folder / f"{i:03d}.jpg")
    cache = root / "home" / "checkpoints"
    cache.mkdir(parents=True)
    for weights in list_weights():
        target = cache / weights.file_name
        if not target.exists():
            model = _foreign_model(weights.model_name, len(weights.meta["categories"]))
            torch.save(model.state_dict(), target)
    small = next(w for w in list_weights("mobilenet_v3_small"))
    (root / small.file_name).write_bytes((cache / small.file_name).read_bytes())
    import timm
    from safetensors.torch import save_file

    save_file(timm.create_model("mobilenetv3_large_100").state_dict(), root / "mobilenetv3_large_100.safetensors")
    return root


PAGES = _pages()


def _params() -> list:
    params = []
    for page in PAGES:
        blocks = [b for b in _blocks(page) if b.lang in ("python", "bash")]
        if not blocks:
            continue
        marks = [pytest.mark.slow] if any(b.mark == "slow" and b.lang == "python" for b in blocks) else []
        params.append(pytest.param(page, blocks, id=page, marks=marks))
    return params


def test_every_page_is_collected() -> None:
    assert "README.md" in PAGES and "docs/training.md" in PAGES and "docs/deploy.md" in PAGES


@pytest.mark.parametrize(("page", "blocks"), _params())
def test_snippets_run(page: str, blocks: list[Block], docs_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lucid.cli import build_parser, parse_args

    monkeypatch.chdir(docs_workspace)
    monkeypatch.setenv("LUCID_HOME", str(docs_workspace / "home"))
    namespace: dict = {"__name__": f"docs:{page}"}
    parser = build_parser()
    for block in blocks:
        if block.mark == "skip":
            continue
        where = f"{page}:{block.line}"
        if block.lang == "bash":
            for argv in _lucid_commands(block.code):
                try:
                    parse_args(argv, parser)
                except SystemExit as exc:
                    pytest.fail(f"{where}: `lucid {' '.join(argv)}` does not parse (exit {exc.code})")
            continue
        source = _python_source(block.code)
        try:
            exec(compile(source, where, "exec"), namespace)  # noqa: S102 - the docs' own snippets
        except Exception as exc:  # noqa: BLE001 - report which snippet failed and why
            pytest.fail(f"{where}: snippet raised {type(exc).__name__}: {exc}")
