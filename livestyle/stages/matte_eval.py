"""Matte quality against exact ground truth: composites from RGBA cut-outs and the metrics.

Composites (in the manner of Composition-1k, Xu et al. CVPR 2017): an RGBA cut-out laid over a
background photo gives a frame whose true alpha is known exactly. :func:`still_composite` makes
one still, :func:`moving_sequence` a sequence in which the cut-out slides and scales over the
background with mild sensor noise.

Metrics (alpha mattes are ``(H, W)`` float32 in [0, 1], 1 = person):

* :func:`iou`: intersection over union of both mattes binarized at 0.5.
* :func:`boundary_f`: the DAVIS boundary F-measure (Perazzi et al., CVPR 2016; ``seg2bmap`` and
  a boundary match within ``0.008 x`` the image diagonal, as in the DAVIS toolkit).
* :func:`band_mae`: mean absolute alpha error in a band of ``band_px`` around the true edge,
  in levels (0-255).
* :func:`warp_error`: the flow warping error of Lai et al., "Learning Blind Video Temporal
  Consistency", ECCV 2018: the mean squared difference between each matte and the previous one
  warped by the optical flow of the input frames (DIS, Kroeger et al. ECCV 2016, via
  ``cv2.DISOpticalFlow``), over non-occluded pixels (forward-backward consistency).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

GT_ZERO_BELOW = 0.04
"""Ground-truth alpha below this is background (the cut-outs carry faint noise there)."""


# -- ground truth ---------------------------------------------------------------------------
def load_cutout(path) -> np.ndarray:
    """An RGBA cut-out as ``(h, w, 4)`` uint8 BGRA, cropped to the rows and columns where alpha
    is at least :data:`GT_ZERO_BELOW`.

    Raises:
        ValueError: the file is not readable or has no alpha channel.
    """
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 3 or image.shape[2] != 4:
        raise ValueError(f"{path}: not an RGBA PNG")
    ys, xs = np.nonzero(image[..., 3] >= GT_ZERO_BELOW * 255)
    if not len(ys):
        raise ValueError(f"{path}: alpha is empty")
    return image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def fit_background(image: np.ndarray, size_px: tuple[int, int]) -> np.ndarray:
    """Scale ``image`` to cover ``size_px`` = (width, height) and centre-crop it."""
    w, h = size_px
    s = max(w / image.shape[1], h / image.shape[0])
    resized = cv2.resize(image, (max(w, round(image.shape[1] * s)), max(h, round(image.shape[0] * s))),
                         interpolation=cv2.INTER_AREA)
    y0, x0 = (resized.shape[0] - h) // 2, (resized.shape[1] - w) // 2
    return resized[y0 : y0 + h, x0 : x0 + w]


def place(cutout: np.ndarray, background: np.ndarray, height_frac: float, centre_x_frac: float):
    """Lay ``cutout`` (BGRA) over ``background`` (BGR), its height ``height_frac`` of the frame,
    its bottom on the frame's bottom, its centre at ``centre_x_frac`` of the width.

    Returns:
        ``(image, alpha)``: ``(H, W, 3)`` uint8 BGR composite and its ``(H, W)`` float32 alpha
        (values below :data:`GT_ZERO_BELOW` set to 0).
    """
    H, W = background.shape[:2]
    ch = max(2, round(H * height_frac))
    cw = max(2, round(cutout.shape[1] * ch / cutout.shape[0]))
    small = cv2.resize(cutout, (cw, ch), interpolation=cv2.INTER_AREA if ch < cutout.shape[0] else cv2.INTER_LINEAR)
    alpha = np.zeros((H, W), np.float32)
    fg = np.zeros((H, W, 3), np.float32)
    x0, y0 = round(centre_x_frac * W - cw / 2), H - ch
    sx0, sy0 = max(0, -x0), max(0, -y0)
    dx0, dy0 = max(0, x0), max(0, y0)
    dx1, dy1 = min(W, x0 + cw), min(H, y0 + ch)
    if dx1 > dx0 and dy1 > dy0:
        part = small[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0]
        alpha[dy0:dy1, dx0:dx1] = part[..., 3] / 255.0
        fg[dy0:dy1, dx0:dx1] = part[..., :3]
    alpha[alpha < GT_ZERO_BELOW] = 0.0
    a = alpha[..., None]
    image = a * fg + (1.0 - a) * background.astype(np.float32)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), alpha


@dataclass(frozen=True)
class StillCase:
    """One still composite: cut-out, background, person height and horizontal position."""

    person: str
    background: str
    height_frac: float
    centre_x_frac: float

    @property
    def name(self) -> str:
        return f"{self.person}/{self.background}/h{round(self.height_frac * 100)}x{round(self.centre_x_frac * 100)}"


STILL_LAYOUTS = ((1.0, 0.5), (0.8, 0.5), (0.8, 0.3), (0.6, 0.5), (0.6, 0.75))
"""(height fraction, centre x fraction) of the still composites."""


def moving_path(n_frames: int, seed: int = 0) -> list[tuple[float, float]]:
    """(height fraction, centre x fraction) per frame: a slow slide across and back, with the
    height swinging between 65 % and 95 % of the frame."""
    t = np.arange(n_frames) / max(1, n_frames - 1)
    phase = 0.7 * seed
    x = 0.5 + 0.2 * np.sin(2 * np.pi * t + phase)
    h = 0.8 + 0.15 * np.sin(np.pi * t * 1.5 + phase)
    return list(zip(h.tolist(), x.tolist()))


def moving_sequence(cutout, background, n_frames: int = 90, noise_sigma: float = 2.0, seed: int = 0):
    """Yield ``(image, alpha)`` for ``n_frames`` frames of ``cutout`` moving over ``background``
    (see :func:`moving_path`), with Gaussian sensor noise of ``noise_sigma`` levels (fixed seed)."""
    rng = np.random.default_rng(seed)
    for h, x in moving_path(n_frames, seed):
        image, alpha = place(cutout, background, h, x)
        noisy = image.astype(np.float32) + rng.normal(0.0, noise_sigma, image.shape).astype(np.float32)
        yield np.clip(noisy + 0.5, 0, 255).astype(np.uint8), alpha


# -- metrics --------------------------------------------------------------------------------
def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """IoU of both mattes binarized at 0.5; 1.0 when both are empty."""
    p, t = pred >= 0.5, truth >= 0.5
    union = np.count_nonzero(p | t)
    return 1.0 if union == 0 else np.count_nonzero(p & t) / union


def seg2bmap(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels of a boolean mask, as the DAVIS toolkit's ``seg2bmap`` at equal size:
    a pixel is on the boundary if it differs from its right, lower or lower-right neighbour."""
    m = mask.astype(bool)
    e = np.zeros_like(m)
    s = np.zeros_like(m)
    se = np.zeros_like(m)
    e[:, :-1] = m[:, 1:]
    s[:-1, :] = m[1:, :]
    se[:-1, :-1] = m[1:, 1:]
    b = (m ^ e) | (m ^ s) | (m ^ se)
    b[-1, :] = m[-1, :] ^ e[-1, :]
    b[:, -1] = m[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def boundary_f(pred: np.ndarray, truth: np.ndarray, bound_th: float = 0.008) -> float:
    """DAVIS boundary F-measure of both mattes binarized at 0.5; the match tolerance is
    ``bound_th`` times the image diagonal (rounded up), as in the DAVIS toolkit."""
    bound_pix = int(np.ceil(bound_th * np.hypot(*truth.shape[:2])))
    fg, gt = seg2bmap(pred >= 0.5), seg2bmap(truth >= 0.5)
    n_fg, n_gt = np.count_nonzero(fg), np.count_nonzero(gt)
    if n_fg == 0 and n_gt == 0:
        return 1.0
    if n_fg == 0 or n_gt == 0:
        return 0.0
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * bound_pix + 1, 2 * bound_pix + 1))
    fg_dil = cv2.dilate(fg.astype(np.uint8), disk).astype(bool)
    gt_dil = cv2.dilate(gt.astype(np.uint8), disk).astype(bool)
    precision = np.count_nonzero(fg & gt_dil) / n_fg
    recall = np.count_nonzero(gt & fg_dil) / n_gt
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def edge_band(truth: np.ndarray, band_px: int = 20) -> np.ndarray:
    """Boolean ``(H, W)``: pixels within ``band_px`` of the true edge (the 0.5 contour)."""
    edge = seg2bmap(truth >= 0.5)
    if not edge.any():
        return edge
    dist = cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 3)
    return dist <= band_px


def band_mae(pred: np.ndarray, truth: np.ndarray, band_px: int = 20) -> float:
    """Mean absolute alpha error, in levels (0-255), within ``band_px`` of the true edge; NaN
    if the truth has no edge."""
    band = edge_band(truth, band_px)
    if not band.any():
        return float("nan")
    return float(np.abs(pred[band] - truth[band]).mean() * 255.0)


class FlowWarp:
    """Lai et al. 2018 flow warping error of a matte sequence.

    ``flows(frames)`` computes, for each pair of consecutive input frames, the backward flow
    (frame t to t-1) and the non-occlusion mask once; ``error(mattes, flows)`` then scores any
    matte sequence of those frames. Flow with ``cv2.DISOpticalFlow`` (preset MEDIUM) on gray
    frames at ``scale`` of their size; the mask keeps pixels whose forward and backward flows
    agree (Ruder et al. 2016: ``|f + b|^2 <= 0.01 (|f|^2 + |b|^2) + 0.5``).
    """

    def __init__(self, scale: float = 0.5):
        self.scale = scale
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def _gray(self, image: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return cv2.resize(g, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA) if self.scale != 1 else g

    def pair(self, previous: np.ndarray, current: np.ndarray):
        """``(map_x, map_y, non_occluded)`` to warp the previous frame's matte onto the current."""
        g0, g1 = self._gray(previous), self._gray(current)
        bw = self._dis.calc(g1, g0, None)  # current -> previous
        fw = self._dis.calc(g0, g1, None)
        h, w = g1.shape
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        mx, my = gx + bw[..., 0], gy + bw[..., 1]
        fw_at = cv2.remap(fw, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        diff = ((fw_at + bw) ** 2).sum(-1)
        ok = diff <= 0.01 * ((fw_at**2).sum(-1) + (bw**2).sum(-1)) + 0.5
        ok &= (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        return mx, my, ok

    def flows(self, frames) -> list:
        frames = list(frames)
        return [self.pair(a, b) for a, b in zip(frames, frames[1:])]

    def error(self, mattes, flows) -> float:
        """Mean over frame pairs of the masked mean squared difference (alpha in [0, 1])."""
        errs = []
        for (prev, cur), (mx, my, ok) in zip(zip(mattes, mattes[1:]), flows):
            h, w = ok.shape
            p = cv2.resize(prev, (w, h), interpolation=cv2.INTER_AREA) if prev.shape != ok.shape else prev
            c = cv2.resize(cur, (w, h), interpolation=cv2.INTER_AREA) if cur.shape != ok.shape else cur
            warped = cv2.remap(p, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            n = np.count_nonzero(ok)
            errs.append(float(((c - warped)[ok] ** 2).sum() / max(n, 1)))
        return float(np.mean(errs)) if errs else float("nan")


def score(pred: np.ndarray, truth: np.ndarray) -> dict:
    """IoU, boundary F and edge-band MAE of one matte."""
    return {"iou": iou(pred, truth), "boundary_f": boundary_f(pred, truth), "band_mae": band_mae(pred, truth)}
