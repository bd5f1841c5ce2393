"""``livestyle bench --matte [DIR]``: the segment + refine stage against exact ground truth.

Cases, from ``DIR``:

* ``person-*.png`` (RGBA cut-outs) and ``bg-*.jpg`` (background photos): still composites at
  960x540 for every cut-out and background, the person at 100/80/60 % of the frame height and
  several positions (:data:`~livestyle.stages.matte_eval.STILL_LAYOUTS`), run in IMAGE mode;
  and one moving sequence per cut-out (it slides and scales for ``frames`` frames with mild
  sensor noise), run in VIDEO mode (or LIVE with ``live``), as the product runs them.
* ``frames/`` and ``masks/``: a recorded sequence (frames sorted by name, each with a
  ground-truth mask PNG of the same stem; grey or alpha, 255 = person), run in VIDEO mode.

Per case and in the mean: IoU, DAVIS boundary F, alpha MAE in a 20 px band around the true
edge, the flow warping error on sequences (Lai et al. 2018; also given for the ground truth
itself, the floor set by the flow's own errors) and ms per frame of segment + refine. The
metrics are in :mod:`livestyle.stages.matte_eval`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

from livestyle.config import Config
from livestyle.errors import InputError
from livestyle.protocols import RunningMode
from livestyle.stages import matte_eval as me

FRAME_SIZE_PX = (960, 540)
METRICS = ("iou", "boundary_f", "band_mae", "warp_error", "ms_per_frame")
TARGETS = {"iou": 0.92, "min_still_iou": 0.85, "boundary_f": 0.80, "band_mae": 35.0}
"""Issue 14's targets: mean IoU, lowest still IoU, mean boundary F, mean edge-band MAE (levels)."""


def _read_mask(path: Path) -> np.ndarray:
    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if m is None:
        raise InputError(f"{path}: not a readable mask image; give a grey or RGBA PNG (255 = person)")
    if m.ndim == 3:
        m = m[..., 3] if m.shape[2] == 4 else cv2.cvtColor(m, cv2.COLOR_BGR2GRAY)
    a = m.astype(np.float32) / (65535.0 if m.dtype == np.uint16 else 255.0)
    a[a < me.GT_ZERO_BELOW] = 0.0
    return a


def find_cases(folder: Path, frames: int = 90, size_px: tuple[int, int] = FRAME_SIZE_PX) -> tuple[list, list]:
    """``(stills, sequences)`` in ``folder``: stills are ``(name, image, alpha)``, sequences
    ``(name, images, alphas)`` (lists). Composites are ``size_px`` = (width, height).

    Raises:
        InputError: the folder is missing or holds neither cut-outs with backgrounds nor
            ``frames/`` with ``masks/``.
    """
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder; give a folder with person-*.png and bg-*.jpg, or frames/ and masks/")
    stills, sequences = [], []
    cutouts = sorted(folder.glob("person-*.png"))
    backgrounds = sorted(folder.glob("bg-*.jpg"))
    if cutouts and backgrounds:
        people = {p.stem: me.load_cutout(p) for p in cutouts}
        bgs = {}
        for p in backgrounds:
            image = cv2.imread(str(p))
            if image is None:
                raise InputError(f"{p}: not a readable image; remove it or replace it with a JPEG photo")
            bgs[p.stem[3:].split("-")[0].split("_")[0]] = me.fit_background(image, size_px)
        for pn, cut in people.items():
            for bn, bg in bgs.items():
                for h, x in me.STILL_LAYOUTS:
                    image, alpha = me.place(cut, bg, h, x)
                    stills.append((f"{pn}/{bn}/h{round(h * 100)}x{round(x * 100)}", image, alpha))
        for i, (pn, cut) in enumerate(people.items()):
            bn = list(bgs)[i % len(bgs)]
            pairs = list(me.moving_sequence(cut, bgs[bn], frames, seed=i))
            sequences.append((f"{pn}/{bn}/moving", [p[0] for p in pairs], [p[1] for p in pairs]))
    if (folder / "frames").is_dir() and (folder / "masks").is_dir():
        images, alphas = [], []
        for f in sorted(p for p in (folder / "frames").iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")):
            mask = folder / "masks" / f"{f.stem}.png"
            if not mask.is_file():
                raise InputError(f"{f}: no ground-truth mask {mask}; add it or remove the frame")
            image = cv2.imread(str(f))
            if image is None:
                raise InputError(f"{f}: not a readable image; remove it or replace it")
            images.append(image)
            alphas.append(_read_mask(mask))
        if images:
            sequences.append((f"{folder.name}/frames", images, alphas))
    if not stills and not sequences:
        raise InputError(f"{folder}: no person-*.png with bg-*.jpg and no frames/ with masks/; give such a folder")
    return stills, sequences


def _run_case(segmenter, refiner, images) -> tuple[list, list]:
    """Mattes and per-frame ms of segment + refine."""
    mattes, ms = [], []
    for image in images:
        t0 = time.perf_counter()
        alpha = refiner.refine(segmenter.segment(image), image)
        ms.append((time.perf_counter() - t0) * 1e3)
        mattes.append(alpha)
    return mattes, ms


def run_matte_bench(folder, config: Config, frames: int = 90, live: bool = False,
                    size_px: tuple[int, int] = FRAME_SIZE_PX) -> dict:
    """Score the configured segment + refine stage on the cases in ``folder``; returns the report
    (``cases``: per case metrics; ``mean``; ``targets``; ``config``; ``load``)."""
    from livestyle.app.run import make_segmenter
    from livestyle.stages.matte import MaskRefiner

    stills, sequences = find_cases(Path(folder), frames, size_px)
    cases = []
    load0 = os.getloadavg()
    seq_mode = RunningMode.LIVE if live else RunningMode.VIDEO
    for mode, group in ((RunningMode.IMAGE, stills), (seq_mode, sequences)):
        if not group:
            continue
        segmenter = make_segmenter(config, mode)
        try:
            for name, images, alphas in group:
                images = images if isinstance(images, list) else [images]
                alphas = alphas if isinstance(alphas, list) else [alphas]
                if hasattr(segmenter, "reset"):
                    segmenter.reset()
                mattes, ms = _run_case(segmenter, MaskRefiner(config.mask, mode), images)
                scores = [me.score(p, t) for p, t in zip(mattes, alphas)]
                case = {"name": name, "kind": "still" if len(images) == 1 else "sequence", "frames": len(images)}
                for key in ("iou", "boundary_f", "band_mae"):
                    case[key] = float(np.nanmean([s[key] for s in scores]))
                case["ms_per_frame"] = float(np.median(ms))
                if len(images) > 1:
                    warp = me.FlowWarp()
                    flows = warp.flows(images)
                    case["warp_error"] = warp.error(mattes, flows)
                    case["warp_error_truth"] = warp.error(alphas, flows)
                    case["min_iou"] = float(min(s["iou"] for s in scores))
                cases.append(case)
        finally:
            segmenter.close()
    return {
        "folder": str(folder),
        "segmenter": config.segmenter.model_dump(mode="json"),
        "mask": config.mask.model_dump(mode="json"),
        "sequence_mode": seq_mode.value,
        "cases": cases,
        "mean": summarize(cases),
        "targets": TARGETS,
        "load": {"before": list(load0), "after": list(os.getloadavg()), "cpu_count": os.cpu_count()},
    }


def summarize(cases: list[dict]) -> dict:
    """Means over all cases (IoU, boundary F, band MAE, ms), over sequences (warp error), and
    the lowest still IoU."""
    def mean(key, kind=None):
        vals = [c[key] for c in cases if key in c and (kind is None or c["kind"] == kind)]
        return float(np.nanmean(vals)) if vals else None

    stills = [c["iou"] for c in cases if c["kind"] == "still"]
    return {
        "iou": mean("iou"), "boundary_f": mean("boundary_f"), "band_mae": mean("band_mae"),
        "warp_error": mean("warp_error"), "warp_error_truth": mean("warp_error_truth"),
        "ms_per_frame": mean("ms_per_frame"), "min_still_iou": min(stills) if stills else None,
    }  # fmt: skip


def _fmt(value, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def format_matte_table(report: dict) -> str:
    """The report as a plain-text table (warp error x 1000)."""
    seg = report["segmenter"]
    lines = [
        f"livestyle bench --matte {report['folder']}: segmenter {seg['kind']}/{seg['model']}, "
        f"sequences in {report['sequence_mode']} mode, load {report['load']['before'][0]:.1f} on {report['load']['cpu_count']} cores",
        f"{'case':<34}{'IoU':>7}{'bF':>7}{'MAE':>7}{'warp':>8}{'gt warp':>8}{'ms':>8}",
    ]
    for c in list(report["cases"]) + [dict(report["mean"], name="mean")]:
        w, wt = c.get("warp_error"), c.get("warp_error_truth")
        lines.append(
            f"{c['name']:<34}{_fmt(c['iou'], 7, 3)}{_fmt(c['boundary_f'], 7, 3)}{_fmt(c['band_mae'], 7, 1)}"
            f"{_fmt(None if w is None else w * 1e3, 8, 2)}{_fmt(None if wt is None else wt * 1e3, 8, 2)}{_fmt(c['ms_per_frame'], 8, 1)}"
        )
    m, t = report["mean"], report["targets"]
    lines.append(
        f"targets: IoU >= {t['iou']} (mean {m['iou']:.3f}), lowest still >= {t['min_still_iou']} "
        f"({_fmt(m['min_still_iou'], 0, 3).strip()}), bF >= {t['boundary_f']} ({m['boundary_f']:.3f}), "
        f"MAE <= {t['band_mae']} ({m['band_mae']:.1f})"
    )
    return "\n".join(lines)


def matte_bench_main(args, config: Config) -> int:
    """``livestyle bench --matte``: see the module docstring."""
    if args.json and not Path(args.json).parent.is_dir():
        raise InputError(f"{args.json}: folder {Path(args.json).parent} does not exist; create it first")
    report = run_matte_bench(args.matte, config, frames=args.matte_frames, live=args.live)
    print(format_matte_table(report))
    if args.json:
        from livestyle.app.bench import write_json

        write_json(report, args.json)
    return 0
