"""Options for each stage, validated with pydantic (loaded from TOML presets by :mod:`livestyle.presets`).

A preset file (see ``configs/``) has one table per stage::

    [segmenter]
    model = "landscape"

    [style]
    strength = 0.8

CLI flags override values from the file. Types are strict (``strength = true`` or
``short_side_px = "288"`` are errors, not coerced), numbers must be finite, and values that
depend on each other are checked together (``mask.low`` below ``mask.high``). An invalid value
raises :class:`~livestyle.errors.InputError` naming the key (or the flag that set it), the
value and what is allowed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from livestyle import registry
from livestyle.errors import LivestyleError


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


_TABLE = "<table>"
"""In a check across keys, stands for the table's name; :func:`_describe` fills it in."""


def _ordered(options: BaseModel, low: str, high: str, *, equal: bool = False) -> None:
    """Raises ValueError: ``options.<low>`` is not below (``equal``: above) ``options.<high>``."""
    lo, hi = getattr(options, low), getattr(options, high)
    if lo > hi or (lo == hi and not equal):
        raise ValueError(f"'{_TABLE}.{low}' ({lo}) must be {'at most' if equal else 'below'} '{_TABLE}.{high}' ({hi})")


class SegmenterOptions(_Options):
    """Person segmentation (MediaPipe selfie segmentation, model card:
    https://storage.googleapis.com/mediapipe-assets/Model%20Card%20MediaPipe%20Selfie%20Segmentation.pdf).

    ``model``: ``general`` (256x256 input), ``landscape`` (144x256, faster, for 16:9 live
    video) or ``auto`` (general for files and images, landscape for live cameras).
    """

    model: Literal["auto", "general", "landscape"] = "auto"
    threads: int = Field(1, ge=1, le=64)
    # ``kind``: ``selfie`` (MediaPipe, above), ``deeplab`` (DeepLabV3, 21 PASCAL VOC classes;
    # :mod:`livestyle.stages.deeplab`) or ``person`` (the selfie model on a crop around the
    # person fused with a MODNet prior; :mod:`livestyle.stages.person`; ``auto`` = general).
    # ``classes``: the DeepLab classes kept out of the effect.
    kind: Literal["selfie", "deeplab", "person"] = "selfie"
    classes: tuple[str, ...] = ("person",)
    # ``person``: the MODNet prior runs every ``prior_every_frames`` frames of a file (twice,
    # the second pass on the person's box, with ``prior_focus``) and at most ``prior_rate_hz``
    # on its own thread for a live camera (one pass).
    prior_every_frames: int = Field(5, ge=1, le=10000)
    prior_rate_hz: float = Field(2.0, gt=0.0, le=60.0)
    prior_focus: bool = True

    @field_validator("classes", mode="before")
    @classmethod
    def _check_classes(cls, value):
        try:
            return registry.check("segment_classes", value)
        except LivestyleError as err:
            raise ValueError(str(err)) from None


class MaskOptions(_Options):
    """Turning the model's soft confidence mask into an alpha matte.

    * ``ema``: weight of the newest mask in the temporal exponential moving average
      (1 = no smoothing).
    * ``refine``: edge refinement guided by the frame: ``guided`` (He et al., guided image
      filtering, ECCV 2010), ``bilateral`` (joint bilateral filter) or ``none``.
    * ``refine_guide``: the guide image: ``gray`` (luma; 5x cheaper) or ``color``.
    * ``refine_radius_px`` / ``refine_eps``: filter window radius at the working resolution,
      and the guided filter's regularisation (on [0, 1] intensities, squared).
    * ``refine_scale``: the refinement runs at this fraction of the frame size (speed).
    * ``refine_subsample``: the guided filter fits its coefficients at 1/N of that size and
      applies them at full size (He and Sun's fast guided filter; 2 costs a third of 1).
    * ``low`` / ``high``: confidence below ``low`` is background, above ``high`` is person;
      in between the matte ramps smoothly.
    * ``feather_px``: Gaussian feather of the final matte, in frame pixels (0 = off).
    * ``decontaminate``: in edge pixels, replace the original background's share with the new
      background's (see :class:`~livestyle.stages.composite.AlphaCompositor`); removes the light or
      dark rim the old background leaves around the person.
    """

    ema: float = Field(0.6, gt=0.0, le=1.0)
    refine: Literal["guided", "bilateral", "none"] = "guided"
    refine_guide: Literal["gray", "color"] = "gray"
    refine_radius_px: int = Field(6, ge=1, le=64)
    refine_eps: float = Field(2e-4, gt=0.0, le=1.0)
    refine_scale: float = Field(0.5, gt=0.0, le=1.0)
    refine_subsample: int = Field(2, ge=1, le=8)
    low: float = Field(0.45, ge=0.0, lt=1.0)
    high: float = Field(0.88, gt=0.0, le=1.0)
    feather_px: float = Field(0.75, ge=0.0, le=32.0)
    # ``mode``: ``soft`` (the matte above) or ``hard`` (the seed's binarized mask: resize, blur,
    # Otsu threshold; :class:`livestyle.stages.deeplab.HardMaskRefiner`).
    mode: Literal["soft", "hard"] = "soft"
    decontaminate: bool = True

    @model_validator(mode="after")
    def _check_order(self):
        _ordered(self, "low", "high")
        return self


class StyleOptions(_Options):
    """Magenta arbitrary style transfer (Ghiasi et al., "Exploring the structure of a real-time,
    arbitrary neural artistic stylization network", BMVC 2017).

    * ``style``: an image path or a built-in style name (``livestyle styles list``).
    * ``strength``: in [0, 1]; mixes the style bottleneck with the content image's own
      (the official "style blending ratio"; 1 = full style).
    * ``backend``: ``onnx`` (float transformer at any size, default) or ``litert`` (the
      official TFLite files; output fixed at 384x384).
    * ``short_side_px``: the transformer's input short side (rounded to a multiple of 4).
    * ``threads``: intra-op threads of the transformer. One by default: in recorded video the
      other core segments and composites, which is worth more than a faster restyle.
    """

    style: str = "starry_night"
    strength: float = Field(1.0, ge=0.0, le=1.0)
    backend: Literal["onnx", "litert"] = "onnx"
    short_side_px: int = Field(288, ge=64, le=2160)
    threads: int = Field(1, ge=1, le=64)


class RenderOptions(_Options):
    """The slow, best-looking renderers of the background (:mod:`livestyle.stages.render`).

    * ``method``: ``magenta`` (the fast default), ``gatys`` (neural style by optimization,
      Gatys et al. 2015, started from the Magenta result) or ``photo`` (photorealistic: the
      Magenta result made locally affine in the plate's colours with the Matting Laplacian,
      after Li et al. 2018). ``gatys`` and ``photo`` need the ``render`` extra and a style
      *image* (a path): built-in styles ship only as Magenta style vectors.
    * ``iterations``: L-BFGS iterations of ``gatys``; ``cg_steps``: conjugate-gradient steps per
      colour channel of ``photo``; ``smoothness``: ``photo``'s lambda (smaller = smoother).
    * ``rerender_change``: a video plate is rendered again only when it differs from the last
      rendered one by more than this many levels (mean absolute difference of 64x36 thumbnails).
    """

    method: Literal["magenta", "gatys", "photo"] = "magenta"
    iterations: int = Field(20, ge=1, le=10000)
    cg_steps: int = Field(300, ge=1, le=100000)
    smoothness: float = Field(3e-3, gt=0.0, le=10.0)
    rerender_change: float = Field(8.0, ge=0.0, le=255.0)


class PlateOptions(_Options):
    """The clean background plate and when it is restyled.

    * ``update``: weight of a new background observation in the plate's running average.
    * ``background_below``: mask confidence below which a pixel counts as background.
    * ``refresh_frames``: in video mode the plate is checked every N frames and restyled if it
      changed (1 = every frame).
    * ``min_change``: a check restyles only if the plate changed by more than this many levels
      (mean absolute difference of 64x36 thumbnails); 0 = always. A static background then
      keeps one restyled plate and does not flicker.
    * ``crossfade_frames``: frames over which a new restyled plate fades in (at most N).
    * ``local_refresh``: a new restyling replaces only the regions whose plate changed by more
      than ``change_low`` .. ``change_high`` levels (a soft ramp); elsewhere the restyled
      plate already shown stays, so noise never turns into shimmer.
    * ``style_rate_hz``: in live mode, the most refreshes per second (a restyle costs about
      90 ms of one core at the default size, so 4 per second during a camera pan is about
      a third of a core; a still background is not restyled at all).
    * ``change_wait_level_s``: in live mode, a local plate change (the person shifting on
      their chair uncovers a strip of wall) of ``d`` levels (above ``min_change``) is restyled
      once ``wait_s * d`` reaches this, ``wait_s`` being the time since the last restyle:
      1-2 levels wait 1-2 s and are restyled together with the next ones. A change over at
      least ``change_area_now`` of the plate (a camera move, a light switched on) goes at
      once, up to ``style_rate_hz``. 0 = no wait.
    * ``change_area_now``: that fraction (pixels of the 64x36 thumbnail changed by more than
      ``change_low`` levels).
    """

    update: float = Field(0.15, gt=0.0, le=1.0)
    background_below: float = Field(0.2, gt=0.0, lt=1.0)
    refresh_frames: int = Field(30, ge=1, le=10000)
    min_change: float = Field(1.0, ge=0.0, le=255.0)
    crossfade_frames: int = Field(15, ge=0, le=10000)
    local_refresh: bool = True
    change_low: float = Field(4.0, ge=0.0, le=255.0)
    change_high: float = Field(12.0, gt=0.0, le=255.0)
    style_rate_hz: float = Field(4.0, gt=0.0, le=240.0)
    change_wait_level_s: float = Field(2.0, ge=0.0, le=1000.0)
    change_area_now: float = Field(0.1, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _check_order(self):
        _ordered(self, "change_low", "change_high")
        return self


class OutputOptions(_Options):
    """Recorded-video output: H.264 quality (``crf``, lower is better) and x264 ``preset``."""

    crf: int = Field(18, ge=0, le=51)
    preset: str = "veryfast"


class CameraOptions(_Options):
    """Live camera input (:mod:`livestyle.io.camera`).

    * ``device``: camera index (``"0"``) or device path (``"/dev/video2"``); ``--input``
      overrides it.
    * ``width_px`` / ``height_px``: requested capture size in pixels (0 = the camera's
      default); a camera may give another size, the run uses what it gives.
    * ``rate_hz``: requested frame rate in frames per second (0 = the camera's default).
    * ``mjpg``: ask for MJPG, which many USB cameras need for HD at full rate.
    * ``reconnect_min_s`` / ``reconnect_max_s``: back-off between attempts to reopen a lost
      camera, in seconds (doubling from the first to the second).
    """

    device: int | str = 0
    width_px: int = Field(0, ge=0, le=7680)
    height_px: int = Field(0, ge=0, le=4320)
    rate_hz: float = Field(0.0, ge=0.0, le=240.0)
    mjpg: bool = False
    reconnect_min_s: float = Field(0.5, gt=0.0, le=60.0)
    reconnect_max_s: float = Field(8.0, gt=0.0, le=600.0)

    @model_validator(mode="after")
    def _check_order(self):
        _ordered(self, "reconnect_min_s", "reconnect_max_s", equal=True)
        return self


class VcamOptions(_Options):
    """Virtual camera output (:mod:`livestyle.io.vcam`, pyvirtualcam).

    * ``enabled``: send the output to a virtual camera (``--vcam``).
    * ``device``: the virtual device (``/dev/video10``, ``OBS Virtual Camera``); empty = the
      first available.
    * ``backend``: pyvirtualcam backend name (``v4l2loopback``, ``obs``, ``unitycapture``);
      empty = try each.
    * ``fps``: frames per second sent to the device (0 = the camera's rate).
    """

    enabled: bool = False
    device: str = ""
    backend: str = ""
    fps: float = Field(0.0, ge=0.0, le=240.0)


class PreviewOptions(_Options):
    """Preview window (:mod:`livestyle.io.window`, OpenCV highgui).

    * ``enabled``: show the window in live mode (``--no-preview`` turns it off).
    * ``overlay``: draw output fps, stylizer rate and latency over the picture (key ``f``).
    * ``snapshot_dir``: folder where key ``s`` saves snapshots (PNG).
    """

    enabled: bool = True
    overlay: bool = True
    snapshot_dir: str = "."


class LiveOptions(_Options):
    """Live-mode behaviour (:mod:`livestyle.app.live`).

    * ``mirror``: flip the output left-right (preview and virtual camera).
    * ``quick_restyle``: on a style or strength change, show a small restyle (a third of the
      transformer size) at once,
      then the full one (so a change is visible within about 150 ms).
    * ``strength_step``: how much the ``+`` and ``-`` keys change ``style.strength``.
    * ``matte_skip_psnr_db``: carry the last person matte over (no segmentation, refinement
      or plate update) while the frame is within this PSNR of the frame it was computed on
      and no part of it moved much (:class:`~livestyle.engine.gate.MatteGate`); 0 = compute
      every frame.
    * ``matte_skip_max``: at most this many frames in a row carry the matte over.
    * ``mask_reuse_psnr_db``: when the matte is not carried over but the frame is within this
      PSNR of the frame the last segmentation mask was computed on (and no tile moved by more
      than 32 levels), that mask is reused and only the matte is refined again, guided by the
      new frame (and the clean plate is left as it is); 0 = segment every computed frame.
    * ``mask_reuse_max``: at most this many computed frames in a row reuse a mask, so the
      segmentation model runs at least every ``mask_reuse_max + 1`` computed frames while a
      person sits and talks.

    In live mode the transformer runs with ``cores - 1`` threads (at least 1) unless
    ``style.threads`` is set, so the frame loop keeps a core.
    """

    mirror: bool = False
    quick_restyle: bool = True
    strength_step: float = Field(0.1, gt=0.0, le=1.0)
    matte_skip_psnr_db: float = Field(35.0, ge=0.0, le=100.0)
    matte_skip_max: int = Field(1, ge=1, le=30)
    mask_reuse_psnr_db: float = Field(30.0, ge=0.0, le=100.0)
    mask_reuse_max: int = Field(1, ge=1, le=30)


class PanelOptions(_Options):
    """The control panel of a live run (:mod:`livestyle.app.panel`, ``pip install
    'livestyle[panel]'``).

    * ``enabled``: serve the panel (``--panel``).
    * ``port``: TCP port (``--panel-port``; 0 = any free port).
    * ``host``: address to listen on (``--panel-host``); anything but loopback prints a warning.
    * ``open_browser``: open the panel in the default browser (``--open``).
    """

    enabled: bool = False
    port: int = Field(8765, ge=0, le=65535)
    host: str = "127.0.0.1"
    open_browser: bool = False


class EffectOptions(_Options):
    """The effect (:mod:`livestyle.effects`) and what it applies to.

    * ``name``: ``style`` (neural style, :class:`StyleOptions`), ``blur``, ``replace``,
      ``cartoon``, ``pencil``, ``oil``, ``watercolor``, ``color`` or ``none``.
    * ``target``: ``background`` (keep the person) or ``person`` (restyle the person, keep the
      background).
    * ``person_style``: a style for the person layer (``style`` effect): with target
      ``person`` it replaces ``style.style``; with target ``background`` the person is styled
      with it too.
    * ``blur_strength``: background blur in (0, 1]; the Gaussian sigma is
      ``0.06 * strength`` of the frame's short side.
    * ``background``: image or video file for ``replace`` (a video loops).
    * ``fit``: how ``background`` fills the frame: ``cover`` (crop), ``contain`` (letterbox)
      or ``stretch``.
    * ``light_wrap``: how much of the new background's light spills onto the kept edge
      (0 = off).
    * ``color_method``: ``linear`` (mean and colour covariance, one affine colour map; the
      fastest), ``histogram`` (per-channel histogram matching through a lookup table) or
      ``reinhard`` (mean and spread in Lab); see :mod:`livestyle.effects.color`.
    """

    name: str = "style"
    target: Literal["background", "person"] = "background"
    person_style: str | None = None
    blur_strength: float = Field(0.5, gt=0.0, le=1.0)
    background: str | None = None
    fit: Literal["cover", "contain", "stretch"] = "cover"
    light_wrap: float = Field(0.0, ge=0.0, le=1.0)
    color_method: Literal["linear", "histogram", "reinhard"] = "linear"

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        try:
            return registry.check("effect", value)
        except LivestyleError as err:
            raise ValueError(str(err)) from None


class Config(_Options):
    """All options. Each field is one stage's options dataclass."""

    segmenter: SegmenterOptions = SegmenterOptions()
    mask: MaskOptions = MaskOptions()
    style: StyleOptions = StyleOptions()
    plate: PlateOptions = PlateOptions()
    render: RenderOptions = RenderOptions()
    output: OutputOptions = OutputOptions()
    camera: CameraOptions = CameraOptions()
    vcam: VcamOptions = VcamOptions()
    preview: PreviewOptions = PreviewOptions()
    live: LiveOptions = LiveOptions()
    effect: EffectOptions = EffectOptions()
    panel: PanelOptions = PanelOptions()
