"""Output files under faults, through the real `livestyle` command: unique, exclusive temporary
files (no symlink followed, no input destroyed, long names, concurrent runs, stale ones
removed), OS errors in the product's words (full disk, read-only file system, permission
denied, missing folder), and output paths checked before the work starts.

The full disk is a 1 MiB tmpfs and the read-only folder a read-only tmpfs (mounting needs
root; the tests say so when they skip). Permission denied is made with ``setpriv`` dropping
root's file-permission override, so it really fails even for root.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from conftest import CLIP, PORTRAITS, STARRY

REPO = Path(__file__).resolve().parents[1]


def livestyle(*args, prefix=(), env=None, timeout=300):
    return subprocess.run(
        [*prefix, sys.executable, "-m", "livestyle", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})},
    )  # fmt: skip


def assert_clean_error(proc, *words):
    """Exit code 2, one line on stderr naming the problem, no traceback."""
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("livestyle: error: ")
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def mount(tmp_path):
    """``mount(name, options)``: a small tmpfs at ``tmp_path/name``, unmounted afterwards."""
    mounted = []

    def make(name: str, options: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path, leave_bytes: int = 0) -> None:
    """Fill the file system holding ``folder`` up to ``leave_bytes`` free."""
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                st = os.statvfs(folder)
                free = st.f_bavail * st.f_frsize - leave_bytes
                if free <= 0:
                    break
                f.write(b"\0" * min(free, 1 << 16))
                f.flush()
        except OSError:
            pass


# --------------------------------------------------------------------------- temporary files


def test_two_runs_into_one_output_both_finish(tmp_path):
    out = tmp_path / "same.mp4"
    cmd = [sys.executable, "-m", "livestyle", "run", "-i", str(CLIP), "-o", str(out), "--frames", "30", "--no-progress"]
    procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=REPO) for _ in range(2)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    for p, err in zip(procs, errs):
        assert p.returncode == 0, err
        assert "Traceback" not in err
    assert frame_count(out) == 30
    assert listing(tmp_path) == ["same.mp4"]


@pytest.mark.parametrize("length", [240, 250])
def test_a_long_output_name_works(tmp_path, length):
    out = tmp_path / ("n" * (length - 4) + ".mp4")
    proc = livestyle("run", "-i", CLIP, "-o", out, "--frames", "5", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert frame_count(out) == 5
    assert listing(tmp_path) == [out.name]


def test_a_stale_temporary_is_removed_but_a_live_one_is_kept(tmp_path):
    # a run killed with SIGKILL leaves its temporary file
    killed = subprocess.Popen([sys.executable, "-m", "livestyle", "run", "-i", str(CLIP), "-o", str(tmp_path / "a.mp4"),
                               "--no-progress"], stderr=subprocess.DEVNULL, cwd=REPO)  # fmt: skip
    _wait_for_temporary(tmp_path, killed)
    killed.kill()
    killed.wait()
    stale = _writing(tmp_path)
    assert len(stale) == 1
    # a run still writing into the same folder
    live = subprocess.Popen([sys.executable, "-m", "livestyle", "run", "-i", str(CLIP), "-o", str(tmp_path / "b.mp4"),
                             "--no-progress"], stderr=subprocess.PIPE, text=True, cwd=REPO)  # fmt: skip
    try:
        _wait_for_temporary(tmp_path, live, besides=stale)
        writing = _writing(tmp_path, besides=stale)
        proc = livestyle("run", "-i", CLIP, "-o", tmp_path / "c.mp4", "--frames", "3", "--no-progress")
        assert proc.returncode == 0, proc.stderr
        left = listing(tmp_path)
        assert stale[0] not in left, "the killed run's temporary file was not removed"
        assert writing[0] in left, "the temporary file of a run still writing was removed"
    finally:
        live.send_signal(signal.SIGINT)
        _, err = live.communicate(timeout=60)
    assert live.returncode == 130, err
    assert listing(tmp_path) == ["c.mp4"]


def _writing(folder: Path, besides=()) -> list[str]:
    """Temporary files with data in them (an empty one may be the check that the folder is
    writable, removed at once)."""
    found = []
    for p in folder.iterdir():
        try:
            if p.name.startswith(".") and p.name not in besides and p.stat().st_size > 0:
                found.append(p.name)
        except FileNotFoundError:
            pass
    return found


def _wait_for_temporary(folder: Path, proc: subprocess.Popen, besides=()) -> None:
    deadline = time.monotonic() + 120
    while not _writing(folder, besides):
        assert proc.poll() is None and time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.02)


@pytest.mark.parametrize("what", ["input", "style"])
def test_an_input_named_like_a_temporary_is_kept(tmp_path, what):
    e = tmp_path / "e"
    e.mkdir()
    named = e / ".out.livestyle-tmp.mp4"
    src = CLIP if what == "input" else STARRY
    shutil.copy(src, named)
    inp, style = (named, STARRY) if what == "input" else (CLIP, named)
    proc = livestyle("run", "-i", inp, "-o", e / "out.mp4", "--style", style, "--frames", "5", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert named.read_bytes() == src.read_bytes()
    assert frame_count(e / "out.mp4") == 5


@pytest.mark.parametrize("kind", ["video", "image", "json"])
def test_a_planted_symlink_is_not_followed(tmp_path, kind):
    d = tmp_path / "d"
    d.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    name = {"video": "out.mp4", "image": "out.png", "json": "report.json"}[kind]
    stem, ext = name.rsplit(".", 1)
    (d / f".{stem}.livestyle-tmp.{ext}").symlink_to("../victim.txt")
    if kind == "video":
        proc = livestyle("run", "-i", CLIP, "-o", d / name, "--frames", "5", "--no-progress")
    elif kind == "image":
        proc = livestyle("run", "-i", PORTRAITS[0], "-o", d / name)
    else:
        proc = livestyle("bench", "-i", CLIP, "--frames", "5", "--pace", "max", "--no-preview", "--json", d / name)
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "precious\n"
    assert (d / name).is_file() and not (d / name).is_symlink()


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize("kind", ["video", "image", "json"])
def test_a_full_disk_gives_one_line_and_leaves_nothing(mount, kind):
    full = mount("full", "size=1m")
    fill(full, leave_bytes=64 << 10)  # room to start, not to finish
    before = listing(full)
    if kind == "video":
        out = full / "out.mp4"
        proc = livestyle("run", "-i", CLIP, "-o", out, "--frames", "60", "--no-progress")
    elif kind == "image":
        out = full / "out.png"
        proc = livestyle("run", "-i", PORTRAITS[0], "-o", out)
    else:
        fill(full)
        out = full / "report.json"
        proc = livestyle("bench", "-i", CLIP, "--frames", "5", "--pace", "max", "--no-preview", "--json", out)
    assert_clean_error(proc, f"no space left on the device holding {out}", "free space or choose another folder",
                       "nothing was written")  # fmt: skip
    assert listing(full) == before


@pytest.mark.parametrize("kind", ["video", "image", "json"])
def test_a_read_only_folder_is_refused_before_the_work(mount, kind):
    ro = mount("ro", "ro,size=1m")
    out = ro / {"video": "out.mp4", "image": "out.png", "json": "r.json"}[kind]
    proc = _write_to(out, kind)
    assert_clean_error(proc, str(out), "read-only", "nothing was written")
    assert "fps" not in proc.stdout  # the benchmark did not run


@pytest.mark.parametrize("kind", ["video", "image", "json"])
def test_permission_denied_names_the_path(tmp_path, kind):
    setpriv = shutil.which("setpriv")
    if os.geteuid() == 0 and setpriv is None:
        pytest.skip("root ignores file permissions and setpriv (util-linux) is not installed to drop that")
    prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner"] if os.geteuid() == 0 else []
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    out = locked / {"video": "out.mp4", "image": "out.png", "json": "r.json"}[kind]
    proc = _write_to(out, kind, prefix=prefix)
    assert_clean_error(proc, str(out), "permission denied", "nothing was written")
    assert listing(locked) == []


def _write_to(out: Path, kind: str, prefix=()):
    if kind == "video":
        return livestyle("run", "-i", CLIP, "-o", out, "--frames", "5", "--no-progress", prefix=prefix)
    if kind == "image":
        return livestyle("run", "-i", PORTRAITS[0], "-o", out, prefix=prefix)
    return livestyle("bench", "-i", CLIP, "--frames", "5", "--pace", "max", "--no-preview", "--json", out,
                     prefix=prefix)  # fmt: skip


@pytest.mark.parametrize("kind", ["image", "json"])
def test_a_missing_folder_is_refused_before_the_work(tmp_path, kind):
    out = tmp_path / "no" / "such" / ("out.png" if kind == "image" else "r.json")
    proc = _write_to(out, kind)
    assert_clean_error(proc, str(out.parent), "does not exist")
    assert listing(tmp_path) == []


# --------------------------------------------------------------------------- bench, config, cache


def test_bench_refuses_to_overwrite_its_input(tmp_path):
    x = tmp_path / "x.mp4"
    shutil.copy(CLIP, x)
    proc = livestyle("bench", "-i", x, "--frames", "30", "--pace", "max", "--no-preview", "--json", x)
    assert_clean_error(proc, "overwrite the input")
    assert x.read_bytes() == CLIP.read_bytes()


def test_bench_json_to_a_folder_is_refused_before_the_work(tmp_path):
    proc = livestyle("bench", "-i", CLIP, "--frames", "30", "--pace", "max", "--no-preview", "--json", tmp_path)
    assert_clean_error(proc, str(tmp_path), "is a folder")
    assert proc.stdout == ""  # refused before the benchmark ran


def test_config_that_is_a_folder(tmp_path):
    proc = livestyle("run", "-i", CLIP, "-o", tmp_path / "out.mp4", "--config", tmp_path)
    assert_clean_error(proc, str(tmp_path), "folder")


def test_config_with_a_top_level_style_key_and_a_style_flag(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text('style = "klee"\n')
    proc = livestyle("run", "-i", CLIP, "-o", tmp_path / "out.mp4", "--config", preset, "--style", "klee")
    assert_clean_error(proc, str(preset), "style")


def test_cache_dir_that_is_a_file(tmp_path):
    cache = tmp_path / "cache"
    cache.write_text("not a folder")
    proc = livestyle("run", "-i", CLIP, "-o", tmp_path / "out.mp4", "--frames", "5", "--no-progress",
                     env={"LIVESTYLE_CACHE_DIR": str(cache)})  # fmt: skip
    assert_clean_error(proc, "LIVESTYLE_CACHE_DIR", str(cache))
    assert listing(tmp_path) == ["cache"]


def test_styles_add_into_a_read_only_folder(mount):
    ro = mount("data", "ro,size=1m")
    proc = livestyle("styles", "add", STARRY, "--name", "mine", env={"LIVESTYLE_DATA_DIR": str(ro)})
    assert_clean_error(proc, str(ro / "styles"), "read-only", "nothing was written")
