"""Measure ``--method magenta|gatys|photo`` against issue 12's targets and print the figures.

On the shared clip's clean plate (frames 420-720, the camera still; short side 288) and,
with ``--inputs clip,portraits``, on the shared portraits' own plates:

* time of each method (wall and process CPU seconds; gatys seconds per L-BFGS iteration);
* gatys' total VGG19 loss (content + style, :mod:`livestyle.stages.render.losses`) as a share
  of Magenta's output's loss for the same content and style (target <= 50 %);
* photo's Matting-Laplacian energy as a share of the gatys result's (target <= 25 %), and how far
  the background's mean Lab colour moved toward the style image's (target >= 80 %);
* the person kept: mean |out - in| over confident person pixels of a frame composited over each
  render (target <= 3 levels);
* ``--images DIR``: small PNGs of that frame per method (for the README).

Usage: ``PYTHONPATH=. python scripts/measure_render.py [--style IMAGE] [--iterations 20]
[--inputs clip,portraits] [--images docs/images]``. Say the machine's load (``uptime``) with the figures.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIVESTYLE_SHARED", REPO.parent / "shared"))
CLIP = SHARED / "media" / "person_desk_960x540.mp4"
PORTRAITS = [SHARED / "media" / "woman-5883428_1280.jpg", SHARED / "media" / "girl-919048_1280.jpg"]


def clip_plate_and_frame(short_side_px: int):
    """The clip's clean plate after frames 420-720 (camera still) and frame 720 with its confidence."""
    from livestyle.io.sources import VideoFileSource
    from livestyle.stages.plate import CleanPlate
    from livestyle.stages.segment import SelfieSegmenter
    from livestyle.stages.stylize import transfer_size

    source = VideoFileSource(CLIP, max_frames=721)
    seg = SelfieSegmenter("general")
    h, w = transfer_size(540, 960, short_side_px)
    plate = CleanPlate((w, h))
    frame = conf = None
    for i, fr in enumerate(source):
        if i < 420:
            continue
        frame, conf = fr.image, seg.segment(fr.image)
        if i % 3 == 0:
            plate.update(frame, conf)
    source.close()
    return plate.image(), frame, conf


def image_plate_and_frame(path: Path, short_side_px: int):
    """A photo's own plate (person filled by push-pull, as ``livestyle run`` does for images)."""
    from livestyle.stages.plate import CleanPlate
    from livestyle.stages.segment import SelfieSegmenter
    from livestyle.stages.stylize import transfer_size

    frame = cv2.imread(str(path))
    conf = SelfieSegmenter("general").segment(frame)
    h, w = transfer_size(*frame.shape[:2], short_side_px)
    plate = CleanPlate((w, h))
    plate.update(frame, conf)
    return plate.image(), frame, conf


def composite(frame: np.ndarray, conf: np.ndarray, background: np.ndarray) -> np.ndarray:
    from livestyle.protocols import RunningMode
    from livestyle.stages.composite import AlphaCompositor
    from livestyle.stages.matte import MaskRefiner

    alpha = MaskRefiner(mode=RunningMode.IMAGE).refine(conf, frame)
    big = cv2.resize(background, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
    return AlphaCompositor().composite(frame, big, alpha)


def person_kept_levels(frame: np.ndarray, conf: np.ndarray, out: np.ndarray) -> float:
    up = cv2.resize(conf, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
    person = cv2.erode((up > 0.95).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    return float(np.abs(out.astype(np.int16) - frame.astype(np.int16)).mean(axis=2)[person].mean())


def lab_mean(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB).reshape(-1, 3).mean(0)


def lab_move(content: np.ndarray, style: np.ndarray, result: np.ndarray) -> float:
    """Share of the way from the content's mean Lab colour to the style's (projected)."""
    a, b, c = lab_mean(content), lab_mean(style), lab_mean(result)
    return float(np.dot(c - a, b - a) / np.dot(b - a, b - a))


def timed(fn, *args, **kw):
    t, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t, time.process_time() - c


def measure(name: str, plate, frame, conf, style_path: Path, args, images: Path | None) -> None:
    from livestyle.config import RenderOptions, StyleOptions
    from livestyle.stages.render import fit_style, render
    from livestyle.stages.render.base import vgg_params
    from livestyle.stages.render.gatys import render_gatys
    from livestyle.stages.render.losses import evaluate
    from livestyle.stages.render.photo import laplacian_energy, matting_laplacian
    from livestyle.stages.stylize import MagentaStylizer, read_image

    style_full = read_image(style_path, "style")
    style = fit_style(style_full, plate.shape)
    params = vgg_params()
    magenta, t_m, c_m = timed(MagentaStylizer(StyleOptions(style=str(style_path), short_side_px=min(plate.shape[:2]))).stylize, plate)
    res, t_g, c_g = timed(render_gatys, plate, style, start_bgr=magenta, iterations=args.iterations, params=params)
    gatys = res.image
    # Second-run figure without the one-off XLA compile: one more evaluation-timed run of 3 iterations.
    _, t_g3, c_g3 = timed(render_gatys, plate, style, start_bgr=magenta, iterations=3, params=params)
    options = RenderOptions(smoothness=args.smoothness, cg_steps=args.cg_steps)
    photo, t_p, c_p = timed(render, "photo", plate, style_full, magenta, options)
    l_m, l_g = evaluate(params, magenta, plate, style), evaluate(params, gatys, plate, style)
    lap = matting_laplacian(plate)
    e_g, e_p, e_m = (laplacian_energy(lap, x) for x in (gatys, photo, magenta))
    print(f"\n== {name}: plate {plate.shape[1]}x{plate.shape[0]}, style {style_path.name}")
    print(f"magenta   {t_m:6.1f} s wall {c_m:6.1f} s CPU")
    print(f"gatys     {t_g:6.1f} s wall {c_g:6.1f} s CPU  {args.iterations} iterations ({res.evaluations} evaluations), "
          f"incl. XLA compile; 3 more iterations {t_g3:.1f} s wall {c_g3:.1f} s CPU -> {t_g3 / 3:.2f} s/iteration")
    print(f"photo     {t_p:6.1f} s wall {c_p:6.1f} s CPU")
    print(f"loss      magenta {l_m.total:.4g} (content {l_m.content:.4g}, style {l_m.style:.4g}); "
          f"gatys {l_g.total:.4g} (content {l_g.content:.4g}, style {l_g.style:.4g}) = {100 * l_g.total / l_m.total:.1f} % "
          f"of magenta's (target <= 50 %)")
    print(f"laplacian energy  plate {laplacian_energy(lap, plate):.3g}, magenta {e_m:.3g}, gatys {e_g:.3g}, "
          f"photo {e_p:.3g} = {100 * e_p / e_g:.2f} % of gatys' (target <= 25 %)")
    print(f"lab move  photo {100 * lab_move(plate, style_full, photo):.0f} % toward the style's mean (target >= 80 %); "
          f"magenta {100 * lab_move(plate, style_full, magenta):.0f} %, gatys {100 * lab_move(plate, style_full, gatys):.0f} %")
    kept = {}
    for method, background in (("magenta", magenta), ("gatys", gatys), ("photo", photo)):
        out = composite(frame, conf, background)
        kept[method] = person_kept_levels(frame, conf, out)
        if images is not None:
            small = cv2.resize(out, (384, round(384 * out.shape[0] / out.shape[1])), interpolation=cv2.INTER_AREA)
            path = images / f"method_{method}_{name}.png"
            cv2.imwrite(str(path), small, [cv2.IMWRITE_PNG_COMPRESSION, 9])
            print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    print("person kept  " + ", ".join(f"{m} {v:.2f}" for m, v in kept.items()) + " levels (target <= 3)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--style", default=str(SHARED / "styles" / "starry_night.jpg"))
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--smoothness", type=float, default=3e-3)
    p.add_argument("--cg-steps", type=int, default=300)
    p.add_argument("--short-side", type=int, default=288)
    p.add_argument("--inputs", default="clip", help="comma-separated: clip (the clip's plate), portraits (the two shared photos)")
    p.add_argument("--images", metavar="DIR", help="write small PNGs per method here")
    args = p.parse_args()
    images = Path(args.images) if args.images else None
    if images is not None:
        images.mkdir(parents=True, exist_ok=True)
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()), f"({os.cpu_count()} CPUs)")
    inputs = args.inputs.split(",")
    if "clip" in inputs:
        measure("clip", *clip_plate_and_frame(args.short_side), Path(args.style), args, images)
    if "portraits" in inputs:
        for path in PORTRAITS:
            measure(path.stem.split("-")[0], *image_plate_and_frame(path, args.short_side), Path(args.style), args, None)
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
