"""Hostile run folders, files and flags through the real ``lucid`` command: every failure is one
line on stderr naming the folder, file or flag, a non-zero exit, and nothing lost on disk.

Every command runs in a subprocess with a timeout, so a hang fails the test instead of CI.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import lucid
from lucid.cli import main, parse_args
from lucid.models import load_model
from lucid.segment import make_shapes_dataset
from lucid.train.run_folder import RunLock
from lucid.train.state import STATE_FILE, load_state, save_state

TINY = ["--limit-train", "40", "--limit-val", "16", "--img-size", "16", "--batch-size", "4", "--no-progress"]
TIMEOUT = 240


def _lucid(
    *args: str, env: dict[str, str] | None = None, prefix: list[str] | None = None
) -> subprocess.CompletedProcess:
    command = [sys.executable, *(prefix or ["-m", "lucid"]), *map(str, args)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    environment.pop("LUCID_DEBUG", None)
    environment.update(env or {})
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=TIMEOUT)


def _main(capsys: pytest.CaptureFixture[str], *args: object, seconds: int = 120) -> subprocess.CompletedProcess:
    """``lucid.cli.main`` in this process (for refusals that come before any training), with a
    ``signal.alarm`` so a hang fails the test; the result looks like a finished subprocess."""

    def timeout(*_: object) -> None:
        raise TimeoutError(f"lucid {' '.join(map(str, args))} did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        code = main([str(a) for a in args])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(map(str, args)), code, out, err)


def _one_line_error(done: subprocess.CompletedProcess, command: str, *needles: str) -> str:
    """The failure's single stderr line; checks the exit code and that it names ``needles``."""
    assert done.returncode != 0, done.stdout[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith(f"lucid {command}: ")]
    assert len(lines) == 1, done.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a digest of its bytes: 'nothing changed' is equality."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _strict_json(text: str) -> object:
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name} in JSON"))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-epoch run; tests copy it before changing anything."""
    out = tmp_path_factory.mktemp("finished") / "run"
    done = _lucid("train", *TINY, "--epochs", "1", "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _copy(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


def test_a_second_run_on_a_locked_folder_refuses_and_names_the_owner(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    with RunLock(out):
        before = _tree(out)
        done = _lucid("train", *TINY, "--epochs", "1", "--out", out)
        _one_line_error(done, "train", f"--out {out} is in use", f"pid {os.getpid()}")
        assert _tree(out) == before
    assert not (out / ".lock").exists()  # released and removed


@pytest.mark.parametrize("below", [False, True])
def test_out_that_is_a_file_or_below_a_file_is_refused_before_training(
    tmp_path: Path, below: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")
    out = blocker / "sub" if below else blocker
    done = _main(capsys, "train", *TINY, "--out", out)
    _one_line_error(done, "train", f"--out {out}", "is a file" if not below else f"inside {blocker}")
    assert blocker.read_text() == "keep me" and _tree(tmp_path) == {"notes.txt": hashlib.sha256(b"keep me").hexdigest()}


def test_unwritable_out_is_refused_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:  # root writes through permissions: use a file system that refuses folders
        if not Path("/sys").is_dir():
            pytest.skip("needs /sys when run as root")
        out = Path("/sys/lucid-test-run")
        needle = "cannot create the folder"
    else:
        parent = tmp_path / "ro"
        parent.mkdir()
        parent.chmod(0o555)
        out = parent / "run"
        needle = "cannot create the folder"
    done = _main(capsys, "train", *TINY, "--out", out)
    _one_line_error(done, "train", f"--out {out}", needle)
    assert not out.exists()


def test_a_run_killed_in_its_first_save_restarts_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    # What a kill during the first epoch's save leaves: a metrics line, a temp file, no training state.
    stale = {"epoch": 1, "train_loss": 9.0, "train_top1": 0.0, "val_loss": 9.0, "val_top1": 0.0, "val_top5": 0.0}
    (out / "metrics.jsonl").write_text(json.dumps(stale) + "\n")
    (out / ".last.safetensors.k1ll3d.tmp").write_bytes(b"\0" * 4096)
    before = _tree(out)
    refused = _lucid("train", "--resume", out, "--no-progress")
    _one_line_error(refused, "train", f"--resume {out}", "before it completed its first epoch", f"--out {out}")
    assert _tree(out) == before
    done = _lucid("train", *TINY, "--epochs", "2", "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "removed what an interrupted run left" in done.stdout and "starts afresh" in done.stdout
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [_strict_json(line)["epoch"] for line in lines] == [1, 2]
    assert not list(out.glob(".*.tmp")) and not (out / ".lock").exists()


def test_resume_removes_temp_files_of_killed_saves(finished_run: Path, tmp_path: Path) -> None:
    out = _copy(finished_run, tmp_path)
    (out / ".train_state.safetensors.abcd1234.tmp").write_bytes(b"\0" * 8192)
    done = _lucid("train", "--resume", out, "--epochs", "2", "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    assert ".train_state.safetensors.abcd1234.tmp (8,192 bytes)" in done.stdout
    assert not list(out.glob(".*")), "temp files or the lock were left behind"
    assert [_strict_json(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_disk_full_while_saving_ends_in_one_line_and_a_failed_summary(tmp_path: Path) -> None:
    out = tmp_path / "run"
    # A 1 MB file-size limit: the 6 MB checkpoint write fails (EFBIG) as on a full disk, while
    # summary.json still fits.
    limited = [
        "-c",
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000)); "
        "from lucid.cli import main; sys.exit(main(sys.argv[1:]))",
    ]
    done = _lucid("train", *TINY, "--epochs", "2", "--out", out, prefix=limited)
    line = _one_line_error(done, "train", f"saving epoch 1 into {out} failed", "File too large", "--out")
    summary = _strict_json((out / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"] in line and summary["epochs"] == 0
    assert not (out / STATE_FILE).exists() and not (out / "last.safetensors").exists()
    assert not list(out.glob(".*")), "temp files or the lock were left behind"


def test_tampered_training_state_is_refused_in_one_line(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _copy(finished_run, tmp_path)
    state = load_state(out / STATE_FILE)
    del state["history"]
    save_state(out / STATE_FILE, state)
    before = _tree(out)
    done = _main(capsys, "train", "--resume", out, "--epochs", "2", "--no-progress")
    _one_line_error(done, "train", str(out / STATE_FILE), "'history'")
    assert _tree(out) == before
    (out / STATE_FILE).write_bytes(b"\x05\x00\x00\x00\x00")
    done = _main(capsys, "train", "--resume", out, "--epochs", "2", "--no-progress")
    _one_line_error(done, "train", str(out / STATE_FILE), "not a readable training state")


@pytest.mark.parametrize(
    ("flags", "needles"),
    [
        (["--epochs", "99999999999999999999"], ["--epochs", "100,000"]),
        (["--batch-size", "10000000"], ["--batch-size", "65,536"]),
        (["--time-budget", "0"], ["--time-budget"]),
        (["--time-budget", "nan"], ["time_budget"]),
    ],
)
def test_absurd_sizes_are_refused_with_their_bound(
    tmp_path: Path, flags: list[str], needles: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    done = _main(capsys, "train", *flags, "--out", tmp_path / "run")
    _one_line_error(done, "train", *needles)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("command", "needles"),
    [
        (["summary", "mobilenet_v3_small", "--input-size", "3", "100000", "100000"], ["--input-size", "4096"]),
        (["mermaid", "mobilenet_v3_small", "--input-size", "3", "64", "64", "--batch-size", "100000"], ["1024"]),
        (["export", "mobilenet_v3_small", "--image-size", "100000"], ["image_size height", "at most 4096"]),
        (["train", "--task", "segment", "--crop-size", "2048x2048"], ["crop_size", "up to 1024"]),
    ],
)
def test_sizes_that_cannot_fit_in_memory_are_refused_before_allocating(
    tmp_path: Path, command: list[str], needles: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Found: these tried to allocate up to 120 GB (summary, export) or rescaled photos to a
    4096-pixel short side (segmentation crops); each now ends in one line naming its bound."""
    out = ["--out", tmp_path / ("m.onnx" if command[0] == "export" else "out")]
    data = ["--data", make_shapes_dataset(tmp_path / "shapes", train=4, val=2)] if command[0] == "train" else []
    done = _main(capsys, *command, *(out if command[0] in ("export", "train") else []), *data)
    _one_line_error(done, command[0], *needles)
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "out").exists()


def test_broken_weights_files_end_in_one_line_for_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = tmp_path / "five.safetensors"
    weights.write_bytes(b"\x01\x02\x03\x04\x05")
    image = tmp_path / "digit.png"
    from PIL import Image

    Image.new("L", (16, 16), 255).save(image)
    for command, args in (
        ("train", ["--weights", weights, *TINY, "--out", tmp_path / "run"]),
        ("eval", [weights]),
        ("predict", [weights, image]),
    ):
        done = _main(capsys, command, *args)
        _one_line_error(done, command, "five.safetensors")
    assert weights.read_bytes() == b"\x01\x02\x03\x04\x05" and not (tmp_path / "run").exists()


def test_lucid_debug_shows_the_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lucid.errors import RunFolderError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("LUCID_DEBUG", "1")
    with pytest.raises(RunFolderError, match="is a file"):  # raised, so the traceback is printed
        main(["train", "--out", str(blocker)])


def test_predict_takes_images_after_options(finished_run: Path, tmp_path: Path) -> None:
    args = parse_args(["predict", "mobilenet_v3_large", "--weights", "DEFAULT", "cat.jpg", "dog.jpg"])
    assert args.inputs == ["mobilenet_v3_large", "cat.jpg", "dog.jpg"] and args.weights == "DEFAULT"
    with pytest.raises(SystemExit):
        parse_args(["predict", "model", "--topk", "2", "cat.jpg", "--no-such-flag"])
    from PIL import Image

    image = tmp_path / "digit.png"
    Image.new("L", (16, 16), 0).save(image)
    done = _lucid("predict", finished_run / "best.safetensors", "--topk", "2", "--json", image)
    assert done.returncode == 0, done.stderr[-3000:]
    (result,) = _strict_json(done.stdout)
    assert result["image"] == str(image) and len(result["predictions"]) == 2


def test_eval_json_of_a_nan_model_is_strict_json(finished_run: Path, tmp_path: Path) -> None:
    model = load_model(finished_run / "best.safetensors")
    with torch.no_grad():
        next(p for p in model.parameters() if p.ndim == 4).fill_(float("nan"))
    poisoned = tmp_path / "nan.safetensors"
    lucid.save(model, poisoned, extra=model.checkpoint_extra)
    done = _lucid("eval", poisoned, "--json", "--confusion", tmp_path / "c.png")
    if done.returncode != 0:  # refusing a NaN checkpoint outright is fine too, in one line
        _one_line_error(done, "eval", "nan.safetensors")
        return
    result = _strict_json(done.stdout)
    assert result["loss"] is None


@pytest.mark.parametrize(("code", "ending"), [(130, "os._exit"), (0, "sys.exit"), (2, "sys.exit")])
def test_the_console_script_skips_finalisation_only_when_interrupted(
    monkeypatch: pytest.MonkeyPatch, code: int, ending: str
) -> None:
    """An interrupt may land inside a native library; finalising over it once aborted the process
    (status -6 instead of 130), so `lucid.cli.run` ends an interrupted command with os._exit."""
    import lucid.cli

    class Ended(Exception):
        pass

    def end(how: str):
        def raise_ended(status: int) -> None:
            raise Ended(how, status)

        return raise_ended

    monkeypatch.setattr(lucid.cli, "main", lambda: code)
    monkeypatch.setattr(os, "_exit", end("os._exit"))
    monkeypatch.setattr(sys, "exit", end("sys.exit"))
    with pytest.raises(Ended) as ended:
        lucid.cli.run()
    assert ended.value.args == (ending, code)


def test_sigterm_ends_a_run_as_interrupted_and_releases_its_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "lucid", "train", *TINY, "--epochs", "50", "--out", str(out)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (out / "summary.json").exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == 130 and err.strip().splitlines()[-1] == "lucid train: interrupted", err[-2000:]
    summary = _strict_json((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and f"--resume {out}" in summary["error"]
    assert not list(out.glob(".*")), "temp files or the lock were left behind"
    assert load_state(out / STATE_FILE)["epoch"] >= 1  # resumable
