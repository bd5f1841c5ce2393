"""Presets in configs/: each loads and says what it promises; flags override a preset; an
invalid value names the key, the value and what is allowed."""

from __future__ import annotations

import pytest

from conftest import REPO
from livestyle.cli import _overrides, build_parser
from livestyle.presets import load_config
from livestyle.errors import InputError

CONFIGS = REPO / "configs"


@pytest.mark.parametrize("name", ["default", "meeting", "quality", "low-power"])
def test_presets_load(name):
    cfg = load_config(CONFIGS / f"{name}.toml")
    assert cfg.style.style == "starry_night"


def test_default_preset_is_the_defaults():
    assert load_config(CONFIGS / "default.toml") == load_config()


def test_preset_contents():
    meeting = load_config(CONFIGS / "meeting.toml")
    assert (meeting.camera.width_px, meeting.camera.height_px, meeting.camera.rate_hz) == (1280, 720, 30)
    assert meeting.segmenter.model == "landscape" and meeting.plate.style_rate_hz <= 4
    quality = load_config(CONFIGS / "quality.toml")
    assert quality.plate.refresh_frames == 1 and quality.segmenter.model == "general"
    low = load_config(CONFIGS / "low-power.toml")
    default = load_config()
    assert low.style.short_side_px < default.style.short_side_px
    assert low.plate.style_rate_hz < default.plate.style_rate_hz
    assert low.style.threads == 1 and low.segmenter.threads == 1


def test_flags_override_the_preset():
    args = build_parser().parse_args(
        ["run", "--config", str(CONFIGS / "meeting.toml"), "--style-rate", "2", "--camera-size", "640x480",
         "--vcam", "--mirror", "--no-preview", "--style", "great_wave"]
    )  # fmt: skip
    cfg = load_config(args.config, _overrides(args))
    assert cfg.plate.style_rate_hz == 2.0 and (cfg.camera.width_px, cfg.camera.height_px) == (640, 480)
    assert cfg.vcam.enabled and cfg.live.mirror and not cfg.preview.enabled and cfg.style.style == "great_wave"
    assert cfg.segmenter.model == "landscape" and cfg.camera.rate_hz == 30  # kept from the preset
    plain = load_config(args.config, _overrides(build_parser().parse_args(["run", "--config", args.config])))
    assert not plain.vcam.enabled and plain.preview.enabled and not plain.live.mirror


def test_invalid_value_names_key_value_and_what_is_allowed(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[plate]\nstyle_rate_hz = -3\n")
    with pytest.raises(InputError) as err:
        load_config(bad)
    msg = str(err.value)
    assert "plate.style_rate_hz" in msg and "-3" in msg and "greater than 0" in msg and str(bad) in msg
    bad.write_text('[segmenter]\nmodel = "huge"\n')
    with pytest.raises(InputError, match=r"'huge'.*segmenter\.model.*'auto', 'general' or 'landscape'"):
        load_config(bad)
    bad.write_text("[camera]\nwidth = 1280\n")
    with pytest.raises(InputError, match=r"camera\.width.*Extra inputs are not permitted"):
        load_config(bad)
    with pytest.raises(InputError, match=r"vcam\.fps"):
        load_config(None, {"vcam.fps": "fast"})


def test_default_preset_comments_show_the_real_defaults(tmp_path):
    """Uncommenting every ``# key = value`` line of configs/default.toml gives the defaults,
    except the few example values that are not defaults (marked below)."""
    import re

    from livestyle.config import Config

    examples = {("effect", "background"), ("camera", "device")}  # illustrations, not defaults
    lines, table, keys = [], None, []
    for line in (REPO / "configs" / "default.toml").read_text().splitlines():
        m = re.match(r"^\[(\w+)\]", line)
        if m:
            table = m.group(1)
        m = re.match(r"^# (\w+) = (.*?)(\s+#.*)?$", line)
        if m and table and (table, m.group(1)) not in examples:
            keys.append((table, m.group(1)))
            line = f"{m.group(1)} = {m.group(2)}"
        lines.append(line)
    assert len(keys) >= 25
    path = tmp_path / "uncommented.toml"
    path.write_text("\n".join(lines) + "\n")
    loaded, default = load_config(path), Config()
    for table, key in keys:
        assert getattr(getattr(loaded, table), key) == getattr(getattr(default, table), key), f"{table}.{key}"
