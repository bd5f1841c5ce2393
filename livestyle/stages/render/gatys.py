"""Neural style by optimization (Gatys, Ecker, Bethge 2015, arXiv:1508.06576) on the CPU.

The image itself is optimized with L-BFGS-B (SciPy; the box bounds keep every pixel in 0-255) so
that its VGG19 features keep the content's (``block4_conv2``) and its Gram matrices match the
style's (``block1_conv1`` ... ``block5_conv1``); losses in :mod:`.losses`. Gradients come from
JAX (``jax.value_and_grad``, jitted once per image size). Starting from a Magenta-stylized image
instead of the content, 10-30 iterations are enough (a cold start needs hundreds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livestyle.stages.render.base import (
    Cancel, Progress, call_cancellable, check, never, require_render_extra, vgg_params, wait_ready,
)  # fmt: skip
from livestyle.stages.render.losses import LossParts, content_target, loss_terms, style_targets
from livestyle.stages.render.vgg import VGG_MEAN_BGR

DEFAULT_ITERATIONS = 20


@dataclass(frozen=True)
class GatysResult:
    """The rendered image (``[H, W, 3]`` BGR uint8), its losses before and after, and the
    number of L-BFGS iterations and loss evaluations spent."""

    image: np.ndarray
    loss_start: LossParts
    loss_end: LossParts
    iterations: int
    evaluations: int


_COMPILED: dict = {}
"""(content shape, style shape) -> (compiled targets, compiled loss value-and-gradient)."""


def _total(x, params, content_feat, grams):
    content, style = loss_terms(params, x, content_feat, grams)
    return content + style, (content, style)


def _targets(params, content, style):
    return content_target(params, content), style_targets(params, style)


def _compile(params, content_bgr: np.ndarray, style_bgr: np.ndarray):
    """Compile the targets and the loss gradient for these sizes once (10-30 s of XLA)."""
    import jax

    key = (content_bgr.shape, style_bgr.shape)
    if key not in _COMPILED:
        targets = jax.jit(_targets).lower(params, content_bgr, style_bgr).compile()
        feat, grams = jax.eval_shape(_targets, params, content_bgr, style_bgr)
        x = jax.ShapeDtypeStruct((1, *content_bgr.shape), np.float32)
        loss = jax.jit(jax.value_and_grad(_total, has_aux=True)).lower(x, params, feat, grams).compile()
        _COMPILED[key] = (targets, loss)
    return _COMPILED[key]


def render_gatys(
    content_bgr: np.ndarray,
    style_bgr: np.ndarray,
    *,
    start_bgr: np.ndarray | None = None,
    iterations: int = DEFAULT_ITERATIONS,
    cancel: Cancel = never,
    progress: Progress | None = None,
    params: dict | None = None,
) -> GatysResult:
    """Optimize an image towards ``style_bgr`` while keeping ``content_bgr``.

    Args:
        content_bgr: ``[H, W, 3]`` BGR uint8, the content (e.g. a clean plate).
        style_bgr: ``[h, w, 3]`` BGR uint8 style image (any size; sized like the content works best).
        start_bgr: ``[H, W, 3]`` BGR uint8 first guess (a Magenta result); the content if None.
        iterations: L-BFGS iterations (each 1-3 loss evaluations).
        cancel: checked between evaluations and while JAX computes.
        progress: called with ``(iterations done, iterations)``.
        params: VGG19 weights (:func:`.base.vgg_params` if None).

    Raises:
        BackendNotInstalled: JAX or SciPy missing (names the ``render`` extra).
        ModelError: the VGG19 weights are missing.
        RenderCancelled: ``cancel()`` returned True.
    """
    def setup():  # imports, weights and the XLA compile: seconds to minutes, on a helper thread
        require_render_extra("gatys")
        weights = vgg_params() if params is None else params
        return (weights, *_compile(weights, content_bgr, style_bgr))

    params, targets, fn = call_cancellable(setup, cancel)
    import jax.numpy as jnp
    from scipy.optimize import Bounds, minimize

    h, w = content_bgr.shape[:2]
    shape = (1, h, w, 3)
    content_feat, grams = targets(params, content_bgr, style_bgr)
    start = content_bgr if start_bgr is None else start_bgr
    x0 = (start.astype(np.float64) - VGG_MEAN_BGR).ravel()
    parts: list[LossParts] = []

    def fun(x: np.ndarray):
        check(cancel)
        (value, (content, style)), grad = fn(jnp.asarray(x.reshape(shape), jnp.float32), params, content_feat, grams)
        wait_ready((value, grad), cancel)
        parts.append(LossParts(float(content), float(style)))
        return float(value), np.asarray(grad, np.float64).ravel()

    done = 0

    def callback(intermediate_result=None):
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, iterations)
        check(cancel)

    lower = np.broadcast_to(-VGG_MEAN_BGR, shape).ravel().astype(np.float64)
    result = minimize(
        fun, x0, jac=True, method="L-BFGS-B", bounds=Bounds(lower, lower + 255.0), callback=callback,
        options={"maxiter": iterations, "maxfun": 3 * iterations + 5, "maxcor": 20},
    )
    best = result.x.reshape(h, w, 3) + VGG_MEAN_BGR
    image = np.clip(np.rint(best), 0, 255).astype(np.uint8)
    return GatysResult(image, parts[0], parts[-1], int(result.nit), int(result.nfev))
