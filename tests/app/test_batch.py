"""``livestyle batch``: outputs equal ``livestyle run``'s frame for frame on the local engine and
on a local Ray instance; a corrupt file fails alone; reruns skip finished files; a batch killed
midway resumes; a worker that dies is retried once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from batch_workers import always_dies, dies_first_time, dies_unless_marked
from conftest import CLIP, PORTRAITS, REPO
from livestyle.app.batch.command import run_batch
from livestyle.app.batch.local import LocalEngine
from livestyle.app.batch.manifest import MANIFEST_NAME, Manifest, Record
from livestyle.app.batch.plan import expand_inputs, settings_hash
from livestyle.app.batch.task import Task
from livestyle.presets import load_config
from livestyle.errors import InputError
from livestyle.app.run import run_file

CLIPS = {"desk_a.mp4": (0, 10), "desk_b.mp4": (240, 12), "desk_c.mp4": (480, 8)}  # start frame, frames
WIDTH_PX = 320


def _cut(dst: Path, start: int, count: int) -> None:
    """Frames ``start .. start+count`` of the shared clip, downscaled to WIDTH_PX wide, as H.264."""
    with av.open(str(CLIP)) as inp, av.open(str(dst), "w") as out:
        src = inp.streams.video[0]
        height = round(src.codec_context.height * WIDTH_PX / src.codec_context.width / 2) * 2
        stream = out.add_stream("libx264", rate=src.average_rate)
        stream.width, stream.height, stream.pix_fmt = WIDTH_PX, height, "yuv420p"
        stream.time_base = 1 / src.average_rate
        for i, frame in enumerate(inp.decode(src)):
            if i >= start + count:
                break
            if i >= start:
                small = frame.reformat(width=WIDTH_PX, height=height, format="yuv420p")
                small.pts, small.time_base = i - start, 1 / src.average_rate
                out.mux(stream.encode(small))
        out.mux(stream.encode(None))


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict:
    """A folder of three short clips and one corrupt clip (a truncated file), and two photos."""
    folder = tmp_path_factory.mktemp("batch-in")
    for name, (start, count) in CLIPS.items():
        _cut(folder / name, start, count)
    data = (folder / "desk_a.mp4").read_bytes()
    (folder / "corrupt.mp4").write_bytes(data[: len(data) // 3])
    return {"folder": folder, "photos": [str(p) for p in PORTRAITS]}


@pytest.fixture(scope="session")
def config():
    return load_config(None, {})


def _decode(path: Path) -> list[np.ndarray]:
    if path.suffix.lower() == ".jpg":
        return [cv2.imread(str(path))]
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


@pytest.fixture(scope="session")
def reference(media, config, tmp_path_factory) -> dict[str, list[np.ndarray]]:
    """``livestyle run``'s output for every good input, decoded, by output name."""
    out = tmp_path_factory.mktemp("batch-ref")
    inputs = [media["folder"] / name for name in CLIPS] + [Path(p) for p in media["photos"]]
    return {p.name: _decode(run_file(str(p), str(out / p.name), config, progress=False).output) for p in inputs}


def _assert_matches(out: Path, reference: dict) -> None:
    for name, frames in reference.items():
        got = _decode(out / name)
        assert len(got) == len(frames), name
        assert all(np.array_equal(a, b) for a, b in zip(got, frames)), f"{name}: frames differ from livestyle run"
    assert not list(out.glob(".*livestyle-tmp*")), "a temporary file was left behind"


def _check_batch(media, config, reference, out: Path, engine) -> None:
    inputs = [str(media["folder"]), *media["photos"]]
    report = run_batch(inputs, out, config, engine, progress=True)  # the bar's frame counters too
    status = {Path(r.input).name: r.status for r in report.rows}
    assert status == {**{n: "done" for n in reference}, "corrupt.mp4": "failed"}
    failed = [r for r in report.rows if r.status == "failed"][0]
    assert "corrupt.mp4" in failed.error and "\n" not in failed.error
    assert not (out / "corrupt.mp4").exists()
    _assert_matches(out, reference)
    records = Manifest(out).latest
    assert {Path(k).name: r.status for k, r in records.items()} == status
    assert records[str(media["folder"] / "desk_b.mp4")].frames == CLIPS["desk_b.mp4"][1]

    again = run_batch(inputs, out, config, engine, progress=False)
    assert {Path(r.input).name: r.status for r in again.rows} == {**{n: "skipped" for n in reference}, "corrupt.mp4": "failed"}


def test_local_engine_matches_run(media, config, reference, tmp_path):
    _check_batch(media, config, reference, tmp_path / "out", LocalEngine(workers=2))


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'livestyle[ray]')")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_engine_matches_run(ray_instance, media, config, reference, tmp_path):
    from livestyle.app.batch.ray_engine import RayEngine

    _check_batch(media, config, reference, tmp_path / "out", RayEngine(cpus_per_task=1))


def test_ray_retries_a_dead_worker(ray_instance, tmp_path):
    from livestyle.app.batch.ray_engine import RayEngine

    import batch_workers

    ray_instance.cloudpickle.register_pickle_by_value(batch_workers)  # Ray's workers cannot import tests/
    task = Task(0, str(tmp_path / "marker"), "", "", "")
    [result] = [r for r in RayEngine(cpus_per_task=1).run(dies_unless_marked, [task]) if r is not None]
    assert result.ok and result.frames == 1


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "livestyle", "batch", *args, "--no-progress"]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc; empty elsewhere)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_killed_batch_resumes(media, reference, tmp_path):
    out = tmp_path / "out"
    inputs = [str(media["folder"] / n) for n in CLIPS] + media["photos"]
    proc = subprocess.Popen(_cli(*inputs, "-d", str(out), "--workers", "1"), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    manifest = out / MANIFEST_NAME
    deadline = time.monotonic() + 120
    while not (manifest.is_file() and manifest.read_bytes().count(b"\n") >= 1):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no file finished in 120 s"
        time.sleep(0.01)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers):  # they exit with the batch
        assert time.monotonic() < deadline, f"worker processes {workers} outlived the killed batch"
        time.sleep(0.05)
    finished = set(Manifest(out).latest)
    assert 1 <= len(finished) < len(inputs)
    for path in out.iterdir():  # every output there is complete
        if path.name in reference:
            assert len(_decode(path)) == len(reference[path.name])

    rerun = subprocess.run(_cli(*inputs, "-d", str(out), "--workers", "1"), env=_env(), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    skipped = {line.split()[-1] for line in rerun.stdout.splitlines() if line.startswith("skipped")}
    assert {Path(p).name for p in skipped} == {Path(p).name for p in finished}
    assert f"{len(inputs) - len(finished)} done, {len(finished)} skipped, 0 failed" in rerun.stdout
    _assert_matches(out, reference)


def test_local_engine_retries_a_dead_worker_once():
    tasks = [Task(i, f"in{i}", f"out{i}", "", "") for i in range(3)]
    results = {r.task.index: r for r in LocalEngine(workers=2).run(dies_first_time, tasks) if r is not None}
    assert all(r.ok for r in results.values())
    assert [results[i].frames for i in range(3)] == [1, 0, 0]  # only the task that died ran twice

    [dead] = [r for r in LocalEngine(workers=1).run(always_dies, tasks[:1]) if r is not None]
    assert not dead.ok and "died 2 times" in dead.error


def test_manifest_survives_a_torn_line(tmp_path):
    record = Record("/in/a.mp4", "ab", "s1", "/out/a.mp4", "done", 1.0, 10)
    Manifest(tmp_path).append(record)
    with open(tmp_path / MANIFEST_NAME, "ab") as f:
        f.write(b'{"input": "/in/b.mp4", "sha')  # killed mid-line
    manifest = Manifest(tmp_path)
    assert list(manifest.latest) == ["/in/a.mp4"]
    manifest.append(Record("/in/c.mp4", "cd", "s1", "/out/c.mp4", "failed", 0.5, 0, "bad"))
    lines = (tmp_path / MANIFEST_NAME).read_text().splitlines()
    assert json.loads(lines[-1])["input"] == "/in/c.mp4"
    assert set(Manifest(tmp_path).latest) == {"/in/a.mp4", "/in/c.mp4"}


def test_plan_names_outputs_and_rejects_clashes(tmp_path, config):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for name in ("a/x.mp4", "a/y.avi", "a/notes.txt", "a/.hidden.mp4", "b/x.mp4"):
        (tmp_path / name).write_bytes(b"")
    pairs = expand_inputs([str(tmp_path / "a")], tmp_path / "out")
    assert [(s.name, d.name) for s, d in pairs] == [("x.mp4", "x.mp4"), ("y.avi", "y.mp4")]
    (tmp_path / "a" / "sub").mkdir()
    (tmp_path / "a" / "sub" / "z.mp4").write_bytes(b"")
    pairs = expand_inputs([str(tmp_path / "a")], tmp_path / "out", pattern="**/*.mp4")
    assert [d.relative_to(tmp_path / "out").as_posix() for _, d in pairs] == ["sub/z.mp4", "x.mp4"]
    with pytest.raises(InputError, match="would both write"):
        expand_inputs([str(tmp_path / "a" / "x.mp4"), str(tmp_path / "b" / "x.mp4")], tmp_path / "out")
    with pytest.raises(InputError, match="overwrite"):
        expand_inputs([str(tmp_path / "a")], tmp_path / "a")
    with pytest.raises(InputError, match="no such file"):
        expand_inputs([str(tmp_path / "missing.mp4")], tmp_path / "out")
    stronger = config.model_copy(update={"style": config.style.model_copy(update={"strength": 0.5})})
    assert settings_hash(config, None, []) == settings_hash(config, None, [])
    assert settings_hash(config, None, []) != settings_hash(stronger, None, [])
    assert settings_hash(config, None, []) != settings_hash(config, 5, [])


def test_cli_errors(tmp_path, monkeypatch, capsys):
    from livestyle.cli import main

    assert main(["batch", str(tmp_path / "missing.mp4"), "-d", str(tmp_path / "out")]) == 2
    assert "missing.mp4: no such file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["batch", str(PORTRAITS[0]), "-d", str(tmp_path / "out"), "--ray"]) == 2
    assert "livestyle[ray]" in capsys.readouterr().err
