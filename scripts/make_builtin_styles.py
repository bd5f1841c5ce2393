"""Regenerate the built-in style bottlenecks in livestyle/styles/ from style images.

Usage: python scripts/make_builtin_styles.py ../shared/styles

Each ``NAME.jpg`` becomes ``livestyle/styles/NAME.npy``: the ``(100,)`` float32 style
bottleneck predicted by the ONNX style predictor (official preprocessing: short side to 256,
centre crop). Only the vectors are shipped, never the images.
"""

import sys
from pathlib import Path

import numpy as np

from livestyle.stages.styles import BUILTIN_DIR
from livestyle.stages.stylize import OnnxMagenta, predict_style_vector, read_image


def main(folder: str) -> None:
    backend = OnnxMagenta(threads=2)
    BUILTIN_DIR.mkdir(exist_ok=True)
    for path in sorted(Path(folder).glob("*.jpg")):
        vec = predict_style_vector(read_image(path, "style image"), backend)
        np.save(BUILTIN_DIR / f"{path.stem}.npy", vec.astype(np.float32))
        print(f"{path.stem}: |v| = {np.linalg.norm(vec):.2f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/styles")
