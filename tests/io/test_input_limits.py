"""Image bombs: an input or style picture whose header announces more pixels than the limit is
refused from the header, "too large" with the limit in the message, before anything is decoded.

The bombs are PNG headers (IHDR) for 12000x12000 (144 MP: Pillow gives its size) and
20000x20000 (400 MP: Pillow refuses it as a bomb) followed by a few bytes of pixel data; they
are a few hundred bytes on disk and are never decoded whole.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from conftest import PORTRAITS
from livestyle.cli import main
from livestyle.errors import InputError
from livestyle.io.limits import MAX_INPUT_MEGAPIXELS
from livestyle.io.sources import open_source


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(path: Path, width_px: int, height_px: int) -> Path:
    """A PNG whose header says ``width_px`` x ``height_px`` RGB; only the first row's data follows."""
    header = struct.pack(">IIBBBBB", width_px, height_px, 8, 2, 0, 0, 0)
    first_row = zlib.compress(b"\0" * (1 + 3 * width_px))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", first_row) + _chunk(b"IEND", b""))
    return path


def cli(capsys, *args) -> tuple[int, list[str]]:
    try:
        code = main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code
    return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize("side_px", [12000, 20000])
def test_input_image_over_the_limit_is_refused_from_its_header(tmp_path, capsys, side_px):
    bomb = png_bomb(tmp_path / "bomb.png", side_px, side_px)
    assert bomb.stat().st_size < 100_000
    with pytest.raises(InputError, match="too large") as info:
        open_source(bomb)
    assert f"{MAX_INPUT_MEGAPIXELS:.0f} megapixel limit" in str(info.value) or f"the limit is {MAX_INPUT_MEGAPIXELS:.0f}" in str(info.value)
    out = tmp_path / "out.png"
    code, lines = cli(capsys, "run", "-i", bomb, "-o", out)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("livestyle: error: ") and str(bomb) in lines[0] and "too large" in lines[0]
    assert not out.exists()


def test_input_images_under_the_limit_still_open():
    with open_source(PORTRAITS[0]) as source:
        assert (source.info.width_px, source.info.height_px) == (1280, 854)


def test_huge_style_image_is_too_large_not_unreadable(tmp_path, capsys):
    bomb = png_bomb(tmp_path / "style.png", 20000, 20000)  # 400 MP: Pillow's bomb check fires first
    out = tmp_path / "out.png"
    code, lines = cli(capsys, "run", "-i", PORTRAITS[0], "-o", out, "-s", bomb)
    assert code == 2 and len(lines) == 1, lines
    assert "too large" in lines[0] and "cannot read" not in lines[0] and str(bomb) in lines[0]
    assert not out.exists()

