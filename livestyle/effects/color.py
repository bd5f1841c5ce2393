"""``color``: photo-realistic colour transfer from the style image. A per-frame effect.

The fast cousin of Deep Photo Style Transfer (Luan et al., CVPR 2017): the background keeps its
structure and takes the style image's colours. Every method is a global colour map fitted to
statistics, applied to the whole frame in one OpenCV pass:

* ``linear`` (default): the linear Monge-Kantorovitch map (Pitie and Kokaram, "The linear
  Monge-Kantorovitch linear colour mapping for example-based colour transfer", CVMP 2007):
  the affine map ``T (x - mean_c) + mean_s`` in RGB that gives the content the style's mean
  and full colour covariance with the least change. One ``cv2.transform`` (about 2 ms at
  1280x720).
* ``histogram``: per-channel histogram matching through a lookup table,
  ``x -> quantile_style(cdf_content(x))``. One ``cv2.LUT`` (about 2 ms).
* ``reinhard``: Reinhard, Ashikhmin, Gooch, Shirley, "Color transfer between images" (IEEE
  CG&A 2001) in CIE Lab: per channel ``(x - mean_c) * std_s / std_c + mean_s``, through a
  lookup table in OpenCV's 8-bit Lab. The two Lab conversions make it the slowest (10-13 ms).

The content statistics are measured on the *background* pixels only (weighted by 1 - alpha) of
a small copy of the frame, and smoothed over time so the colours do not pump as the person
moves. The style's statistics come from the style image, or for a built-in style name from
:mod:`livestyle.effects._builtin_colors` (measured on the painting the built-in came from).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from livestyle.errors import InputError

METHODS = ("linear", "histogram", "reinhard")
STATS_SHORT_SIDE_PX = 144
"""Short side of the frame copy on which the content statistics are measured."""
_LEVELS = np.arange(256.0)
_STD_RATIO = (0.25, 4.0)


@dataclass
class ColorStats:
    """Colour statistics of an image (only what a method needs may be filled in).

    Attributes:
        mean: ``(3,)`` BGR mean; ``cov``: ``(3, 3)`` BGR covariance.
        hist: ``(3, 256)`` per-channel BGR histograms, each summing to 1, or None.
        lab_mean, lab_std: ``(3,)`` in OpenCV 8-bit Lab (L, a, b in 0..255), or None.
    """

    mean: np.ndarray
    cov: np.ndarray
    hist: np.ndarray | None = None
    lab_mean: np.ndarray | None = None
    lab_std: np.ndarray | None = None

    def blend(self, newer: "ColorStats", weight: float) -> "ColorStats":
        """``weight * newer + (1 - weight) * self`` (a temporal moving average)."""

        def mix(a, b):
            return None if a is None or b is None else weight * b + (1.0 - weight) * a

        return ColorStats(
            mix(self.mean, newer.mean), mix(self.cov, newer.cov), mix(self.hist, newer.hist),
            mix(self.lab_mean, newer.lab_mean), mix(self.lab_std, newer.lab_std),
        )  # fmt: skip


def _moments(pixels: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean ``(3,)`` and covariance ``(3, 3)`` of ``(n, 3)`` float32 pixels."""
    total = float(weight.sum())
    channels = np.ascontiguousarray(pixels.T)  # (3, n): contiguous rows make the products fast
    mean = channels @ weight / total
    centred = channels - mean[:, None]
    cov = (centred * weight) @ centred.T / total
    return mean.astype(np.float64), cov.astype(np.float64)


def color_stats(image_bgr: np.ndarray, weight: np.ndarray | None = None, method: str | None = None) -> ColorStats:
    """Statistics of a ``(h, w, 3)`` uint8 BGR image, optionally weighted by ``(h, w)`` float
    ``weight`` (e.g. 1 - alpha: the background only; no weight at all = the whole image).
    ``method`` limits the work to what that method needs (None = everything)."""
    n = image_bgr.shape[0] * image_bgr.shape[1]
    px = image_bgr.reshape(n, 3)
    wt = np.ones(n, np.float32) if weight is None else np.clip(weight.reshape(n), 0.0, None).astype(np.float32)
    if float(wt.sum()) <= 1e-3:
        wt = np.ones(n, np.float32)
    mean, cov = _moments(px.astype(np.float32), wt)
    stats = ColorStats(mean, cov)
    if method in (None, "histogram"):
        hist = np.empty((3, 256))
        for c in range(3):
            hist[c] = np.bincount(px[:, c], weights=wt, minlength=256)[:256]
        stats.hist = hist / hist.sum(axis=1, keepdims=True)
    if method in (None, "reinhard"):
        lab = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2Lab).reshape(n, 3).astype(np.float32)
        lab_mean, lab_cov = _moments(lab, wt)
        stats.lab_mean, stats.lab_std = lab_mean, np.sqrt(np.maximum(np.diag(lab_cov), 1e-6))
    return stats


def _sqrtm(m: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((m + m.T) * 0.5)
    return (vecs * np.sqrt(np.maximum(vals, 0.0))) @ vecs.T


def linear_map(content: ColorStats, style: ColorStats, eps: float = 4.0) -> np.ndarray:
    """``(3, 4)`` float32 affine map in BGR (for ``cv2.transform``): the linear
    Monge-Kantorovitch solution ``T = Sc^-1/2 (Sc^1/2 Ss Sc^1/2)^1/2 Sc^-1/2``."""
    sc = content.cov + np.eye(3) * eps
    ss = style.cov + np.eye(3) * eps
    sc_half = _sqrtm(sc)
    sc_ihalf = np.linalg.inv(sc_half)
    t = sc_ihalf @ _sqrtm(sc_half @ ss @ sc_half) @ sc_ihalf
    offset = style.mean - t @ content.mean
    return np.hstack([t, offset[:, None]]).astype(np.float32)


def _match_lut(content_hist: np.ndarray, style_hist: np.ndarray) -> np.ndarray:
    """``(256, 1, 3)`` uint8 table matching each channel's histogram to the style's."""
    y = np.empty((256, 3))
    for c in range(3):
        # the content cdf at the middle of each bin, through the style's inverse cdf
        mid = np.cumsum(content_hist[c]) - content_hist[c] * 0.5
        scdf = np.cumsum(style_hist[c])
        y[:, c] = np.interp(mid, scdf - style_hist[c] * 0.5, _LEVELS)
    return np.clip(y + 0.5, 0, 255).astype(np.uint8).reshape(256, 1, 3)


def histogram_lut(content: ColorStats, style: ColorStats) -> np.ndarray:
    """Per-channel BGR histogram matching as a ``(256, 1, 3)`` uint8 lookup table."""
    return _match_lut(content.hist, style.hist)


def reinhard_lut(content: ColorStats, style: ColorStats) -> np.ndarray:
    """``(256, 1, 3)`` uint8 table in OpenCV 8-bit Lab giving the content the style's per-channel
    mean and standard deviation."""
    ratio = np.clip(style.lab_std / np.maximum(content.lab_std, 1e-3), *_STD_RATIO)
    y = (_LEVELS[:, None] - content.lab_mean) * ratio + style.lab_mean
    return np.clip(y + 0.5, 0, 255).astype(np.uint8).reshape(256, 1, 3)


def check_method(method: str) -> str:
    """Raises:
    InputError: unknown method (the message lists them).
    """
    if method not in METHODS:
        raise InputError(f"unknown colour transfer method {method!r}; choose one of: {', '.join(METHODS)}")
    return method


def style_color_stats(style: str) -> ColorStats:
    """Colour statistics for a built-in style name or a style image path.

    Raises:
        InputError: neither a built-in style nor a readable image (the message lists the
            built-ins).
    """
    from livestyle.effects._builtin_colors import BUILTIN_COLORS
    from livestyle.stages.stylize import IMAGE_SUFFIXES, read_image

    if style in BUILTIN_COLORS:
        hist_hex, mean, cov, lab_mean, lab_std = BUILTIN_COLORS[style]
        hist = np.frombuffer(bytes.fromhex(hist_hex), dtype=">u2").astype(np.float64).reshape(3, 256)
        hist /= hist.sum(axis=1, keepdims=True)
        return ColorStats(
            np.asarray(mean, np.float64), np.asarray(cov, np.float64).reshape(3, 3), hist,
            np.asarray(lab_mean, np.float64), np.asarray(lab_std, np.float64),
        )  # fmt: skip
    p = Path(style)
    if not p.exists() and p.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(
            f"{style!r} is neither a style image nor a style name; built-in styles: {', '.join(BUILTIN_COLORS)}"
        )
    return color_stats(read_image(p, "style image"))


class ColorTransferEffect:
    """Carries the style's colours onto the frame (see the module docstring).

    Args:
        style: :class:`ColorStats` of the style.
        method: one of :data:`METHODS`.
        ema: weight of the newest frame's content statistics (1 = no smoothing).

    ``render(frame, alpha)``: ``(H, W, 3)`` uint8 BGR and the keep-matte; the content statistics
    come from the pixels that are not kept. Returns ``(H, W, 3)`` uint8 BGR.

    Raises:
        InputError: unknown method.
    """

    name = "color"
    per_frame = True

    def __init__(self, style: ColorStats, method: str = "linear", ema: float = 0.2):
        self.style = style
        self.method = check_method(method)
        self.ema = ema
        self.content: ColorStats | None = None
        self.table: np.ndarray | None = None
        self._buf: np.ndarray | None = None

    def update(self, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """Measure the frame's background, smooth over time, and return the new map
        (``(3, 4)`` matrix or ``(256, 1, 3)`` table)."""
        h, w = frame.shape[:2]
        s = min(1.0, STATS_SHORT_SIDE_PX / min(h, w))
        size = (max(1, round(w * s)), max(1, round(h * s)))
        small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        weight = 1.0 - cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
        stats = color_stats(small, weight, self.method)
        if self.content is not None and self.ema < 1.0:
            stats = self.content.blend(stats, self.ema)
        self.content = stats
        if self.method == "linear":
            self.table = linear_map(stats, self.style)
        elif self.method == "histogram":
            self.table = histogram_lut(stats, self.style)
        else:
            self.table = reinhard_lut(stats, self.style)
        return self.table

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Apply the current map to a ``(H, W, 3)`` uint8 BGR image."""
        if self.method == "linear":
            return cv2.transform(frame, self.table)  # saturating uint8 output
        if self.method == "histogram":
            return cv2.LUT(frame, self.table)
        if self._buf is None or self._buf.shape != frame.shape:
            self._buf = np.empty_like(frame)
        cv2.cvtColor(frame, cv2.COLOR_BGR2Lab, dst=self._buf)
        cv2.LUT(self._buf, self.table, dst=self._buf)
        return cv2.cvtColor(self._buf, cv2.COLOR_Lab2BGR)

    def render(self, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        self.update(frame, alpha)
        return self.apply(frame)

    def close(self) -> None:
        pass


def make(config) -> ColorTransferEffect:
    return ColorTransferEffect(style_color_stats(config.style.style), config.effect.color_method)


def _write_builtin_colors(styles_dir: str | Path, out: str | Path) -> None:
    """Measure the built-in styles' paintings (``<name>.jpg`` in ``styles_dir``) and write
    :mod:`livestyle.effects._builtin_colors`. Run once by a maintainer; the paintings are not
    shipped, only these numbers."""
    from livestyle.stages.stylize import read_image
    from livestyle.stages.styles import builtin_styles

    def nums(a: np.ndarray) -> str:
        return "(" + ", ".join(f"{v:.3f}" for v in np.ravel(a)) + ")"

    lines = [
        '"""Colour statistics of the built-in styles\' paintings, for the ``color`` effect.',
        "",
        "Generated by ``livestyle.effects.color._write_builtin_colors``: name -> (BGR histograms",
        "as 3 x 256 big-endian uint16 in hex, each channel scaled to sum near 65535; BGR mean;",
        "BGR covariance; 8-bit Lab mean; 8-bit Lab standard deviation).",
        '"""',
        "",
        "# fmt: off",
        "BUILTIN_COLORS = {",
    ]
    for name in builtin_styles():
        st = color_stats(read_image(Path(styles_dir) / f"{name}.jpg"))
        hist = np.round(st.hist * 65535).astype(">u2").tobytes().hex()
        lines.append(f'    "{name}": (')
        lines.append(f'        "{hist}",')
        for a in (st.mean, st.cov, st.lab_mean, st.lab_std):
            lines.append(f"        {nums(a)},")
        lines.append("    ),")
    lines.append("}")
    Path(out).write_text("\n".join(lines) + "\n")
