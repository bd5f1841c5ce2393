"""User style gallery: add from a real style image, use by name, list, remove, name checks."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import STARRY, STYLES
from livestyle.cli import main
from livestyle.errors import InputError
from livestyle.app.gallery import add_style, all_style_names, check_name, remove_style, styles_dir, user_styles
from livestyle.stages.stylize import builtin_styles, make_backend, resolve_style


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVESTYLE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_add_use_list_remove(data_dir, capsys):
    assert user_styles() == {}
    path = add_style(STYLES / "great_wave.jpg", "my-wave")
    assert path == data_dir / "styles" / "my-wave.npy" and path.parent == styles_dir()
    vec = np.load(path)
    assert vec.shape == (100,) and vec.dtype == np.float32 and np.all(np.isfinite(vec))
    # the same image's built-in vector (made the same way) is the same style
    builtin = np.load(builtin_styles()["great_wave"])
    cos = float(vec @ builtin / (np.linalg.norm(vec) * np.linalg.norm(builtin)))
    assert cos > 0.95, cos
    assert user_styles() == {"my-wave": path}
    assert all_style_names()[-1] == "my-wave" and all_style_names()[0] in builtin_styles()
    # usable by name wherever a built-in name is
    assert np.array_equal(resolve_style("my-wave", make_backend("onnx", 1)), vec)

    assert main(["styles", "list"]) == 0
    out = capsys.readouterr().out
    assert "starry_night" in out and "built-in" in out and "my-wave" in out and "user" in out

    assert main(["styles", "remove", "my-wave"]) == 0
    assert user_styles() == {} and not path.exists()
    assert main(["styles", "remove", "my-wave"]) == 2
    assert "no user style 'my-wave'" in capsys.readouterr().err


def test_cli_add(data_dir, capsys):
    assert main(["styles", "add", str(STARRY), "--name", "van_gogh"]) == 0
    assert (data_dir / "styles" / "van_gogh.npy").is_file()
    assert main(["styles", "add", str(STARRY), "--name", "van_gogh"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["styles", "add", str(STARRY)]) == 2
    assert main(["styles", "add", str(STARRY) + ".missing.jpg", "--name", "x"]) == 2
    assert "no such style image" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["", "../evil", "a/b", "a\\b", ".hidden", "with space", "x" * 41, "café"])
def test_bad_names(name):
    with pytest.raises(InputError, match="not allowed"):
        check_name(name)


def test_builtin_names_are_taken():
    with pytest.raises(InputError, match="built-in"):
        check_name("starry_night")
    with pytest.raises(InputError, match="built-in"):
        remove_style("starry_night")
    assert check_name("Mine_2-b") == "Mine_2-b"
