"""Quality and frame-loop cost of live mode, and the clips the live-cost figures use.

    python scripts/live_quality.py measure ../shared/media/person_desk_960x540.mp4 --from-s 13 --frames 300
    python scripts/live_quality.py measure CLIP --set live.mask_reuse_psnr_db=0     # an option changed
    python scripts/live_quality.py pan-clip /tmp/pan.mp4       # person-3 over the porch, a 4 s pan
    python scripts/live_quality.py upscale ../shared/media/person_desk_960x540.mp4 /tmp/desk_720.mp4 --from-s 13

``measure`` runs the live frame processor (default settings or ``--config``) on the clip's
frames paced at the clip's rate, no frame dropped, and prints one JSON line: person kept (mean
|out - in| over confident person pixels, levels), background restyled (the same over clear
background), flicker ratio (output over input frame-to-frame change on background pixels),
as in ``tests/metrics.py``, measured against the ``general`` selfie model's mask from the
first restyled frame on; the processor thread's CPU ms per frame (mean, p50); restyles;
frames whose matte was carried over and whose mask was reused.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
RATE = Fraction(30000, 1001)


def _writer(path: str, width: int, height: int):
    out = av.open(path, "w")
    stream = out.add_stream("libx264", rate=RATE)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"crf": "18"}
    return out, stream


def _encode(out, stream, image=None) -> None:
    frames = [av.VideoFrame.from_ndarray(image, format="bgr24")] if image is not None else [None]
    for frame in frames:
        for packet in stream.encode(frame):
            out.mux(packet)


def pan_clip(path: str, seconds: float = 12.0) -> None:
    """person-3's cut-out over the porch photo, 960x540 at 29.97 fps: the camera pans for 4 s
    and then holds, the person sways (25 px, 5 s period), sensor noise sigma 2 (seeded)."""
    bg = cv2.imread(str(SHARED / "matting" / "bg-porch-691330_1280.jpg"))
    cut = cv2.imread(str(SHARED / "matting" / "person-3.png"), cv2.IMREAD_UNCHANGED)
    h, w = 540, 960
    bg = cv2.resize(bg, (1280, int(bg.shape[0] * 1280 / bg.shape[1])))
    cut = cv2.resize(cut, (int(cut.shape[1] * 500 / cut.shape[0]), 500), interpolation=cv2.INTER_AREA)
    ph, pw = cut.shape[:2]
    fg = cut[..., :3].astype(np.float32)
    alpha = cut[..., 3:].astype(np.float32) / 255.0
    alpha[alpha < 0.04] = 0
    rng = np.random.default_rng(0)
    out, stream = _writer(path, w, h)
    for i in range(round(seconds * float(RATE))):
        t = i / float(RATE)
        x0, y0 = int(min(t, 4.0) / 4.0 * (1280 - w)), (bg.shape[0] - h) // 2
        frame = bg[y0:y0 + h, x0:x0 + w].astype(np.float32)
        px, py = w // 2 - pw // 2 + int(25 * math.sin(2 * math.pi * t / 5.0)), h - ph
        x1, x2 = max(px, 0), min(px + pw, w)
        a = alpha[:, x1 - px:x2 - px]
        roi = frame[py:py + ph, x1:x2]
        roi[:] = a * fg[:, x1 - px:x2 - px] + (1 - a) * roi
        frame += rng.normal(0, 2.0, frame.shape)
        _encode(out, stream, np.clip(frame + 0.5, 0, 255).astype(np.uint8))
    _encode(out, stream)
    out.close()


def upscale(src: str, path: str, from_s: float, width: int = 1280, height: int = 720) -> None:
    """The clip from ``from_s`` seconds on, upscaled (bicubic) and encoded at CRF 18."""
    from livestyle.io.sources import VideoFileSource

    out, stream = _writer(path, width, height)
    for f in VideoFileSource(src):
        if f.timestamp_ms >= from_s * 1000.0:
            _encode(out, stream, cv2.resize(f.image, (width, height), interpolation=cv2.INTER_CUBIC))
    _encode(out, stream)
    out.close()


def measure(clip: str, from_s: float, frames: int, config_path: str | None, overrides: dict) -> dict:
    sys.path.insert(0, str(REPO / "tests"))
    from metrics import measure as quality

    from livestyle.app.live import build_processor, live_config
    from livestyle.engine.stats import Stats
    from livestyle.io.sources import VideoFileSource
    from livestyle.presets import load_config
    from livestyle.protocols import Frame
    from livestyle.stages.segment import SelfieSegmenter

    source = VideoFileSource(clip)
    period_s = 1.0 / (source.info.rate_hz or 30.0)
    images = [f.image for f in source if f.timestamp_ms >= from_s * 1000.0][:frames]
    config = live_config(load_config(config_path, overrides))
    stats = Stats()
    proc = build_processor(config, stats)
    stop, errors = threading.Event(), []
    proc.start(stop, lambda stage, err: errors.append((stage, err)))
    outs, cpu_ms = [], []
    t0 = time.perf_counter()
    try:
        for i, image in enumerate(images):
            due = t0 + i * period_s
            time.sleep(max(0.0, due - time.perf_counter()))
            c = time.thread_time()
            frame = Frame(image=image, index=i, timestamp_ms=i * period_s * 1000.0, capture_ns=int(due * 1e9))
            outs.append(proc.process(frame).image)
            cpu_ms.append((time.thread_time() - c) * 1000.0)
    finally:
        stop.set()
        proc.close()
    if errors:
        raise RuntimeError(f"{errors[0][0]}: {errors[0][1]}")
    first = next((i for i, o in enumerate(outs) if not np.array_equal(o, images[i])), len(outs))
    seg = SelfieSegmenter("general")
    masks = [cv2.resize(seg.segment(f), (f.shape[1], f.shape[0])) for f in images[first:]]
    m = quality(images[first:], outs[first:], masks)
    gate = proc.gate
    return {
        "clip": Path(clip).name, "from_s": from_s, "frames": len(images), "first_restyled_frame": first,
        "person_kept": round(float(np.mean(m.person_diff)), 2), "person_kept_max": round(float(np.max(m.person_diff)), 2),
        "background_restyled": round(float(np.mean(m.background_diff)), 1), "flicker_ratio": round(m.flicker_ratio, 3),
        "loop_cpu_ms_mean": round(float(np.mean(cpu_ms[3:])), 2), "loop_cpu_ms_p50": round(float(np.median(cpu_ms[3:])), 2),
        "restyles": stats.style_refreshes, "matte_carried": gate.skipped if gate else 0,
        "mask_reused": getattr(gate, "reused", 0), "load": round(__import__("os").getloadavg()[0], 2),
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure", help="quality and frame-loop CPU of live mode on a clip")
    m.add_argument("clip")
    m.add_argument("--from-s", type=float, default=0.0)
    m.add_argument("--frames", type=int, default=300)
    m.add_argument("--config", default=None)
    m.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="e.g. live.mask_reuse_psnr_db=0")
    p = sub.add_parser("pan-clip", help="the second clip: person-3 over the porch, a 4 s pan")
    p.add_argument("out")
    u = sub.add_parser("upscale", help="a clip's part upscaled (1280x720)")
    u.add_argument("clip")
    u.add_argument("out")
    u.add_argument("--from-s", type=float, default=0.0)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    if args.command == "measure":
        overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
        print(json.dumps(measure(args.clip, args.from_s, args.frames, args.config, overrides)))
    elif args.command == "pan-clip":
        pan_clip(args.out)
    else:
        upscale(args.clip, args.out, args.from_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
