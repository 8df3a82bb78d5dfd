"""The documentation stays true: its code runs as copied, and the built site shows what it should.

- ``python`` blocks run exactly as a reader copies them (Material's copy button copies the whole
  block), in page order, in one namespace per page, inside a scratch folder that holds what the
  snippets name: a ``photos/`` folder of class folders, registered weights in a private weights
  cache (``LUCID_HOME``, files built from torchvision's own models: nothing is downloaded),
  torchvision and timm checkpoint files. ``>>>`` prompts are not stripped (pasted, they are a
  SyntaxError): write plain code, with outputs as comments.
- ``bash`` blocks: every line that starts with ``lucid`` is parsed by lucid's own argument parser
  (sub-command and flags must exist); lines of other programs are not run.
- A block preceded by ``<!-- docs-test: skip REASON -->`` is skipped, and one preceded by
  ``<!-- docs-test: slow REASON -->`` makes its page run only with ``-m slow``. The reason is
  required (a download, a long run), and a mark must sit right above a code block.
- The site is built (``mkdocs build --strict``, when the ``[docs]`` extra is installed). Its pages
  must show no raw Sphinx roles (``:class:`X``` is left as text by mkdocstrings; write a code
  span or a cross-reference), and Mermaid charts must be drawn by the copy of Mermaid in
  ``docs/javascripts/``, never one fetched from a CDN.
"""

from __future__ import annotations

import html
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Generated reports are not hand-written snippets.
SKIP_PAGES = {"docs/benchmarks.md"}
# An opening fence: its indent, its backticks, the language, anything after it (title="...").
FENCE = re.compile(r"^(\s*)(`{3,})\s*([\w+-]*)(.*)$")
MARK = re.compile(r"<!--\s*docs-test:\s*(\w+)(.*?)-->")
MARKS = ("skip", "slow")


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
        if not opened or "`" in opened.group(4):  # ```` ```mermaid ```` in running text opens nothing
            i += 1
            continue
        start, indent, ticks, lang = i, len(opened.group(1)), opened.group(2), opened.group(3)
        body = []
        i += 1
        while i < len(lines) and not re.fullmatch(rf"\s*{ticks}`*\s*", lines[i]):
            body.append(lines[i][indent:] if not lines[i][:indent].strip() else lines[i])
            i += 1
        previous = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        mark = MARK.fullmatch(previous.strip())
        blocks.append(
            Block(
                page,
                start + 1,
                lang,
                "\n".join(body),
                mark.group(1) if mark else None,
                mark.group(2).strip() if mark else "",
            )
        )
        i += 1
    return blocks


def _marks(page: str) -> list[tuple[int, str, str, str]]:
    """Every ``docs-test`` comment line of a page: (line, mark, reason, the next non-blank line)."""
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    found = []
    for number, line in enumerate(lines):
        if mark := MARK.fullmatch(line.strip()):  # a comment on its own line, not one quoted in prose
            following = next((lines[j] for j in range(number + 1, len(lines)) if lines[j].strip()), "")
            found.append((number + 1, mark.group(1), mark.group(2).strip(), following))
    return found


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
    assert "docs/index.md" in [p.values[0] for p in _params()]


def test_marks_are_few_known_and_explained() -> None:
    """Each ``docs-test`` mark is ``skip`` or ``slow``, says why, and sits right above a code block."""
    problems, skipped = [], 0
    for page in PAGES:
        for line, mark, reason, following in _marks(page):
            where = f"{page}:{line}"
            if mark not in MARKS:
                problems.append(f"{where}: unknown mark {mark!r} (known: {', '.join(MARKS)})")
            if not reason:
                problems.append(f"{where}: `docs-test: {mark}` without a reason")
            if not FENCE.match(following):
                problems.append(f"{where}: `docs-test: {mark}` is not right above a code block")
            skipped += mark == "skip"
    assert not problems, "\n".join(problems)
    # Skipping is for what cannot run here (a download, a long run); a heavy example gets lighter.
    assert skipped <= 3, f"{skipped} skipped blocks: make the examples lighter instead"


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
        if re.search(r"^(>>>|\.\.\.)( |$)", block.code, flags=re.MULTILINE):
            pytest.fail(f"{where}: `>>>` prompts do not run when the block is copied; write plain code")
        try:
            exec(compile(block.code, where, "exec"), namespace)  # noqa: S102 - the docs' own snippets
        except Exception as exc:  # noqa: BLE001 - report which snippet failed and why
            pytest.fail(f"{where}: snippet raised {type(exc).__name__}: {exc}")


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest) -> Path:
    """The MkDocs site, built as ``.ci/run`` builds it (strict), into a scratch folder. The build
    was started when the session began (``conftest.start_site_build``), from a process that had
    not yet loaded the deploy runtimes, and runs beside the other tests; this waits for it."""
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python"):
        pytest.importorskip(module, reason="the [docs] extra builds the site")
    from conftest import finish_site_build

    out, returncode, log = finish_site_build(request.config)
    assert returncode == 0, f"mkdocs build --strict failed:\n{log}"
    return out


def _html_pages(site: Path) -> dict[str, str]:
    return {str(p.relative_to(site)): p.read_text(encoding="utf-8") for p in sorted(site.rglob("*.html"))}


# A Sphinx role as it reaches the page: `:class:` then the target, which Markdown made a code span
# (or left in backticks). Code listings (<pre>) may show roles on purpose; running text may not.
# A role written inside a code span is shown on purpose, so code spans are skipped as a whole.
RAW_ROLE = re.compile(r"<code>[^<]*</code>|(?<![\w:/])(:(?:[a-z]+:)?[a-z][\w-]*:(?:<code>[^<]*</code>|`[^`<]+`))")
PRE = re.compile(r"<pre\b.*?</pre>", flags=re.DOTALL)


def test_site_shows_no_raw_sphinx_roles(site: Path) -> None:
    """mkdocstrings renders Markdown: `:func:`x`` in a docstring reaches the reader as raw text."""
    found = []
    for page, text in _html_pages(site).items():
        for role in filter(None, RAW_ROLE.findall(PRE.sub("", text))):
            found.append(f"{page}: {html.unescape(role.replace('<code>', '`').replace('</code>', '`'))}")
    assert not found, (
        f"{len(found)} raw Sphinx roles in the built site (write `name` or a cross-reference "
        "[name][lucid.module.name] instead):\n" + "\n".join(found)
    )


SCRIPT = re.compile(r"<script\b[^>]*\bsrc=\"([^\"]+)\"")


def test_mermaid_ships_with_the_site(site: Path) -> None:
    """Charts render offline: Material uses the page's own ``mermaid`` and fetches none from a CDN."""
    shipped = ROOT / "docs" / "javascripts" / "mermaid.min.js"
    assert (site / "javascripts" / "mermaid.min.js").read_bytes() == shipped.read_bytes()
    assert 'globalThis["mermaid"]' in shipped.read_text(encoding="utf-8")[-2000:], "not Mermaid's browser build"
    charts = 0
    for page, text in _html_pages(site).items():
        sources = SCRIPT.findall(text)
        links = re.findall(r"<link\b[^>]*\bhref=\"([^\"]*mermaid[^\"]*)\"", text)
        remote = [s for s in sources + links if re.match(r"(https?:)?//", s)]
        assert not remote, f"{page} loads scripts from the network: {remote}"
        if 'class="mermaid"' not in text:
            continue
        charts += 1
        local = [s for s in sources if s.endswith("javascripts/mermaid.min.js")]
        assert local, f"{page} draws a chart but does not load javascripts/mermaid.min.js"
        assert (site / page).parent.joinpath(local[0]).resolve() == (site / "javascripts" / "mermaid.min.js").resolve()
        # Material's own bundle is loaded before it: Mermaid must be defined by the time the
        # bundle draws charts (on DOMContentLoaded), so it must not be async or deferred.
        tag = re.search(r"<script\b[^>]*javascripts/mermaid\.min\.js[^>]*>", text).group(0)
        assert " async" not in tag and " defer" not in tag, tag
    assert charts, "no page of the site draws a Mermaid chart (docs/visual.md did)"


def _chromium() -> str | None:
    import shutil

    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


@pytest.mark.slow  # Chromium has killed the long pytest process waiting for it: run it in -m slow only
@pytest.mark.skipif(_chromium() is None, reason="needs a headless Chromium")
def test_mermaid_chart_renders_offline_in_chromium(site: Path, tmp_path: Path) -> None:
    """Opened from disk with every host name unresolvable, the chart page draws its chart.

    Material replaces each ``<pre class="mermaid">`` by a ``<div class="mermaid">`` holding the SVG
    once Mermaid has rendered it; without Mermaid the chart's source stays on the page as text.
    """
    page = site / "visual" / "index.html"
    # Chromium is not this process's child: a shell that outlives it is (a core dump showed this
    # process receiving a SIGSEGV while it waited for Chromium, even in its own session).
    dom = subprocess.run(
        [
            "sh",
            "-c",
            '"$@"; status=$?; exit $status',
            "sh",
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=15000",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        # Its own session: Chromium signals its whole process group when a helper dies, and a
        # SIGSEGV sent that way killed the pytest process waiting for it.
        start_new_session=True,
    ).stdout
    assert "</html>" in dom, "Chromium returned no page"
    assert '<div class="mermaid">' in dom and "flowchart LR" not in dom, "the chart was not drawn offline"
