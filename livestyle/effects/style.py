"""``style``: Magenta arbitrary neural style transfer (:class:`~livestyle.stages.stylize.MagentaStylizer`)
of the clean plate, the project's headline effect. A plate effect."""

from __future__ import annotations

from livestyle.stages.stylize import MagentaStylizer


class StyleEffect(MagentaStylizer):
    """:class:`~livestyle.stages.stylize.MagentaStylizer` as a plate effect (``stylize(plate)``)."""

    name = "style"
    per_frame = False

    @property
    def short_side_px(self) -> int:
        """The plate's short side: the transformer's input size."""
        return self.options.short_side_px


def make(config) -> StyleEffect:
    """The style effect for ``config.style``; with ``effect.target = "person"`` and an
    ``effect.person_style``, that style instead.

    Raises:
        InputError: unknown or unreadable style.
        ModelError: a model is missing or corrupt.
    """
    options = config.style
    if config.effect.target == "person" and config.effect.person_style:
        options = options.model_copy(update={"style": config.effect.person_style})
    return StyleEffect(options)
