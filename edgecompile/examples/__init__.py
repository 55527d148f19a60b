"""The bundled example: a small CNN trained on scikit-learn's 8x8 digits (see ``train_digits``).

``DIGITS_ONNX``  float32 ONNX model, input "input" [batch,1,8,8] (pixels / 16), output "logits" [batch,10]
``DIGITS_CALIB`` npz {"input": float32 [100,1,8,8]}: the first 100 training images, for calibration
``DIGITS_TEST``  npz {"input": float32 [540,1,8,8], "y": int64 [540]}: the whole held-out test split
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DIGITS_ONNX = HERE / "digits_cnn.onnx"
DIGITS_CALIB = HERE / "digits_calib.npz"
DIGITS_TEST = HERE / "digits_test.npz"


def load_digits_test() -> tuple[np.ndarray, np.ndarray]:
    """(x float32 [N,1,8,8], y int64 [N]) of the bundled test split."""
    with np.load(DIGITS_TEST) as f:
        return f["input"], f["y"]


__all__ = ["DIGITS_ONNX", "DIGITS_CALIB", "DIGITS_TEST", "load_digits_test"]
