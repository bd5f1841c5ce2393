"""Photorealistic rendering: a stylized plate made locally affine in the content's colours.

After Li, Liu, Li, Yang, Kautz, "A Closed-form Solution to Photorealistic Image Stylization"
(ECCV 2018, FastPhotoStyle), whose second step smooths a stylized image so that it becomes, in
every small window, an affine function of the content's colours (the constraint behind the
photorealism term of Luan et al., "Deep Photo Style Transfer", CVPR 2017). Here:

1. **Colour statistics, region to region** (:func:`match_colour_stats`): the stylized plate's
   CIE Lab mean and standard deviation are set to the style image's, per semantic region (DeepLab
   classes present in both images with enough pixels), else globally (Reinhard et al. 2001).
2. **Smoothing** (:func:`smooth`): solve ``(L + lam * I) r = lam * y`` per channel, ``L`` the
   Matting Laplacian of the content (Levin, Lischinski, Weiss, "A Closed-Form Solution to
   Natural Image Matting", PAMI 2008; 3x3 windows, ``eps`` regularizer) built with numpy and
   ``scipy.sparse``, solved by Jacobi-preconditioned conjugate gradients (SciPy), ``cancel``
   checked at every CG step. FastPhotoStyle uses ``W`` from the same windows in the normalized
   form ``(I - alpha * S)``; the unnormalized Laplacian gives the same fixed points (locally
   affine images) and its energy is what the benchmark reports.
3. The mean colour of the result is set back to the matched one by a constant offset per
   channel (constants are in the Laplacian's null space, so the smoothness is unchanged).
"""

from __future__ import annotations

import cv2
import numpy as np

from livestyle.stages.render.base import Cancel, Progress, call_cancellable, check, never, require_render_extra

DEFAULT_EPS = 1e-5
DEFAULT_LAMBDA = 3e-3
DEFAULT_CG_STEPS = 300
MIN_REGION_SHARE = 0.05


def matting_laplacian(image_bgr: np.ndarray, eps: float = DEFAULT_EPS, radius: int = 1):
    """The Matting Laplacian of an image (Levin et al. 2008, eq. 12).

    Args:
        image_bgr: ``[H, W, 3]`` uint8 (or float in [0, 1]) guide image.
        eps: regularizer on each window's colour covariance.
        radius: window radius (1 = 3x3 windows).

    Returns:
        ``scipy.sparse.csr_matrix`` of shape ``[H*W, H*W]``, float64, symmetric positive
        semi-definite, rows summing to 0; pixel index ``y * W + x``.
    """
    import scipy.sparse

    img = image_bgr.astype(np.float64) / 255.0 if image_bgr.dtype == np.uint8 else image_bgr.astype(np.float64)
    h, w, _ = img.shape
    size = 2 * radius + 1
    n_win = size * size
    index = np.arange(h * w).reshape(h, w)
    # Every full window, by its top-left corner: pixel indices [K, n_win] and colours [K, n_win, 3].
    win_idx = np.lib.stride_tricks.sliding_window_view(index, (size, size)).reshape(-1, n_win)
    colours = img.reshape(-1, 3)[win_idx]
    mean = colours.mean(axis=1, keepdims=True)
    centred = colours - mean
    cov = np.einsum("kni,knj->kij", centred, centred) / n_win + (eps / n_win) * np.eye(3)
    inv = np.linalg.inv(cov)
    values = (np.eye(n_win) - (1.0 + np.einsum("kni,kij,kmj->knm", centred, inv, centred)) / n_win)
    rows = np.repeat(win_idx, n_win, axis=1).ravel()
    cols = np.tile(win_idx, (1, n_win)).ravel()
    lap = scipy.sparse.coo_matrix((values.ravel(), (rows, cols)), shape=(h * w, h * w)).tocsr()
    lap.sum_duplicates()
    return lap


def laplacian_energy(lap, image_bgr: np.ndarray) -> float:
    """``sum_c x_c^T L x_c / (H*W)`` with ``x`` the image in [0, 1]: 0 for a locally affine image."""
    x = image_bgr.reshape(-1, 3).astype(np.float64) / 255.0
    return float(np.einsum("nc,nc->", x, lap @ x) / x.shape[0])


def _lab(image_bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image_bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)


def _bgr(lab: np.ndarray) -> np.ndarray:
    return np.clip(cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2BGR), 0.0, 1.0) * 255.0


def _regions(labels: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    if labels is None:
        return None
    return cv2.resize(labels.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


def match_colour_stats(
    image_bgr: np.ndarray,
    style_bgr: np.ndarray,
    image_labels: np.ndarray | None = None,
    style_labels: np.ndarray | None = None,
) -> np.ndarray:
    """Set the Lab mean and standard deviation of ``image_bgr`` to the style's, region to region.

    Args:
        image_bgr: ``[H, W, 3]`` uint8 stylized plate.
        style_bgr: ``[h, w, 3]`` uint8 style image.
        image_labels, style_labels: class maps (any size, e.g. DeepLab's 257x257 arg-max); a class
            covering at least ``MIN_REGION_SHARE`` of both images is matched to itself, the rest of
            the image to the whole style image.

    Returns:
        ``[H, W, 3]`` float64 BGR in 0-255.
    """
    src, ref = _lab(image_bgr).reshape(-1, 3), _lab(style_bgr).reshape(-1, 3)
    out = src.astype(np.float64).copy()
    rest = np.ones(len(src), bool)
    a, b = _regions(image_labels, image_bgr.shape[:2]), _regions(style_labels, style_bgr.shape[:2])
    pairs = []
    if a is not None and b is not None:
        a, b = a.ravel(), b.ravel()
        for cls in np.unique(a):
            ma, mb = a == cls, b == cls
            if ma.mean() >= MIN_REGION_SHARE and mb.mean() >= MIN_REGION_SHARE:
                pairs.append((ma, ref[mb]))
                rest &= ~ma
    pairs.append((rest, ref))
    for mask, target in pairs:
        if not mask.any():
            continue
        part = src[mask].astype(np.float64)
        mu, sd = part.mean(0), part.std(0) + 1e-6
        out[mask] = (part - mu) / sd * target.std(0) + target.mean(0)
    return _bgr(out.reshape(image_bgr.shape))


def smooth(
    lap,
    stylized_bgr: np.ndarray,
    *,
    lam: float = DEFAULT_LAMBDA,
    max_steps: int = DEFAULT_CG_STEPS,
    cancel: Cancel = never,
    progress: Progress | None = None,
) -> np.ndarray:
    """Solve ``(L + lam I) r = lam y`` per channel by preconditioned CG (``y`` = stylized, 0-1).

    Smaller ``lam`` = smoother (more photorealistic, further from the stylized colours).

    Returns:
        ``[H, W, 3]`` float64 BGR in 0-255 (not clipped).

    Raises:
        RenderCancelled: ``cancel()`` returned True between CG steps.
    """
    import scipy.sparse
    from scipy.sparse.linalg import LinearOperator, cg

    h, w, _ = stylized_bgr.shape
    y = stylized_bgr.reshape(-1, 3).astype(np.float64) / 255.0
    system = (lap + lam * scipy.sparse.identity(h * w, format="csr")).tocsr()
    inv_diag = 1.0 / system.diagonal()
    precond = LinearOperator(system.shape, matvec=lambda v: inv_diag * v)
    out = np.empty_like(y)
    steps = 0
    total = 3 * max_steps

    def callback(_xk):
        nonlocal steps
        steps += 1
        if progress is not None and steps % 10 == 0:
            progress(steps, total)
        check(cancel)

    for c in range(3):
        out[:, c], _ = cg(system, lam * y[:, c], x0=y[:, c], rtol=1e-6, maxiter=max_steps, M=precond, callback=callback)
        steps = (c + 1) * max_steps
    if progress is not None:
        progress(total, total)
    return (out * 255.0).reshape(h, w, 3)


def render_photo(
    content_bgr: np.ndarray,
    stylized_bgr: np.ndarray,
    style_bgr: np.ndarray,
    *,
    content_labels: np.ndarray | None = None,
    style_labels: np.ndarray | None = None,
    lam: float = DEFAULT_LAMBDA,
    max_steps: int = DEFAULT_CG_STEPS,
    cancel: Cancel = never,
    progress: Progress | None = None,
) -> np.ndarray:
    """Photorealistic version of a stylized plate (see the module docstring).

    Args:
        content_bgr: ``[H, W, 3]`` uint8 content (the clean plate): the guide of the Laplacian.
        stylized_bgr: ``[H, W, 3]`` uint8 stylized content (Magenta or Gatys).
        style_bgr: ``[h, w, 3]`` uint8 style image (its colour statistics are the target).
        content_labels, style_labels: optional semantic class maps (see :func:`match_colour_stats`).

    Returns:
        ``[H, W, 3]`` BGR uint8.

    Raises:
        BackendNotInstalled: SciPy missing (names the ``render`` extra).
        RenderCancelled: ``cancel()`` returned True.
    """
    def setup():  # imports and the Laplacian: seconds, on a helper thread
        require_render_extra("photo")
        return matting_laplacian(content_bgr)

    lap = call_cancellable(setup, cancel)
    matched = match_colour_stats(stylized_bgr, style_bgr, content_labels, style_labels)
    smoothed = smooth(lap, matched, lam=lam, max_steps=max_steps, cancel=cancel, progress=progress)
    smoothed += matched.reshape(-1, 3).mean(0) - smoothed.reshape(-1, 3).mean(0)
    return np.clip(np.rint(smoothed), 0, 255).astype(np.uint8)
