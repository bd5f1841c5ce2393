"""`livestyle bench --matte`: composites with exact ground truth, the report and its table."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import SHARED
from livestyle.app.matte_bench import format_matte_table, run_matte_bench
from livestyle.config import Config

REPO = Path(__file__).resolve().parents[2]
MATTING = SHARED / "matting"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """One cut-out (facing the camera) and one background."""
    d = tmp_path_factory.mktemp("matting")
    shutil.copy(MATTING / "person-3.png", d)
    shutil.copy(MATTING / "bg-porch-691330_1280.jpg", d)
    return d


def test_report_on_a_small_real_composite(folder):
    report = run_matte_bench(folder, Config(), frames=3, size_px=(320, 180))
    stills = [c for c in report["cases"] if c["kind"] == "still"]
    seqs = [c for c in report["cases"] if c["kind"] == "sequence"]
    assert len(stills) == 5 and len(seqs) == 1 and seqs[0]["frames"] == 3
    for c in report["cases"]:
        assert 0.0 <= c["iou"] <= 1.0 and 0.0 <= c["boundary_f"] <= 1.0
        assert 0.0 <= c["band_mae"] <= 255.0 and c["ms_per_frame"] > 0
    assert max(c["iou"] for c in stills) > 0.5  # the selfie model finds a person facing it
    assert seqs[0]["warp_error"] >= 0.0 and seqs[0]["warp_error_truth"] >= 0.0
    assert report["mean"]["min_still_iou"] == min(c["iou"] for c in stills)
    table = format_matte_table(report)
    assert "person-3/porch/h80x50" in table and table.splitlines()[-2].startswith("mean")


def test_frames_and_masks_folder(tmp_path, folder):
    from livestyle.stages import matte_eval as me

    bg = me.fit_background(cv2.imread(str(folder / "bg-porch-691330_1280.jpg")), (160, 90))
    (tmp_path / "frames").mkdir()
    (tmp_path / "masks").mkdir()
    for i, (image, alpha) in enumerate(me.moving_sequence(me.load_cutout(folder / "person-3.png"), bg, 2)):
        cv2.imwrite(str(tmp_path / "frames" / f"{i:03d}.jpg"), image)
        cv2.imwrite(str(tmp_path / "masks" / f"{i:03d}.png"), np.round(alpha * 255).astype(np.uint8))
    report = run_matte_bench(tmp_path, Config())
    assert [c["name"] for c in report["cases"]] == [f"{tmp_path.name}/frames"]
    assert report["cases"][0]["frames"] == 2


def test_cli_json_and_bad_folder(tmp_path, folder):
    out = tmp_path / "matte.json"
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    cmd = [sys.executable, "-m", "livestyle", "bench"]
    proc = subprocess.run([*cmd, "--matte", str(folder), "--matte-frames", "2", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=REPO, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert {"cases", "mean", "targets", "load", "segmenter"} <= set(report)
    assert "targets:" in proc.stdout
    bad = subprocess.run([*cmd, "--matte", str(tmp_path / "nothing")], capture_output=True, text=True, cwd=REPO, env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "no such folder" in bad.stderr
