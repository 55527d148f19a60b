"""The MLPerf Tiny evaluation data, split as ../shared/bench/README.md prescribes, as float inputs
of the float32.onnx models.  Used by benchmarks/run.py and the model tests."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("EC_BENCH_DIR", ROOT.parent / "shared" / "bench"))


@dataclass
class Task:
    model: str
    data: str
    n_calib: int
    official_int8_eval: float      # official int8 TFLite on the evaluation half (README table)
    float_eval: float              # float ONNX (onnxruntime) on the evaluation half
    ort_static_eval: float         # onnxruntime quantize_static on the evaluation half
    metric: str = "top1"


TASKS = {
    "kws_dscnn": Task("kws_dscnn", "kws01", 100, 0.904, 0.922, 0.922),
    "vww_mobilenetv1_025": Task("vww_mobilenetv1_025", "vww01", 100, 0.848, 0.844, 0.838),
    "ic_resnet8": Task("ic_resnet8", "ic01", 50, 0.870, 0.860, 0.860),
    "ad_fc_autoencoder": Task("ad_fc_autoencoder", "ad01", 100, 0.806, 0.863, 0.871, metric="auc"),
}


def available() -> bool:
    return (BENCH / "models").is_dir() and (BENCH / "data").is_dir()


def model_path(task: Task) -> Path:
    return BENCH / "models" / task.model / "float32.onnx"


def float_inputs(task: Task, x: np.ndarray) -> np.ndarray:
    """Raw stored samples -> float model inputs [N, *input_shape_without_batch]."""
    if task.data == "kws01":
        return ((x.astype(np.float32) - 83) * np.float32(0.5847029)).reshape(-1, 49, 10, 1)
    if task.data == "vww01":
        return x.astype(np.float32) / np.float32(255.0)
    if task.data == "ic01":
        return x.astype(np.float32)
    raise ValueError(task.data)


def ad_windows(clips: np.ndarray) -> np.ndarray:
    """[C, 200, 128] spectrograms -> [C, 196, 640] windows of 5 frames."""
    idx = np.arange(196)[:, None] + np.arange(5)[None, :]
    return clips[:, idx, :].reshape(clips.shape[0], 196, 640).astype(np.float32)


def split(task: Task):
    """(calibration inputs, evaluation inputs, evaluation labels).  For AD the evaluation inputs
    are [clips, 196, 640] and labels are per clip; calibration is windows of the first 100 clips."""
    z = np.load(BENCH / "data" / f"{task.data}.npz")
    x, y = z["x"], z["y"]
    n = len(x)
    if task.data == "ad01":
        calib = ad_windows(x[:task.n_calib])[:, ::7].reshape(-1, 640)
        return calib, ad_windows(x[n - n // 2:]), y[n - n // 2:]
    half = n // 2
    return float_inputs(task, x[:task.n_calib]), float_inputs(task, x[n - half:]), y[n - half:]


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score
    return float(roc_auc_score(labels, scores))


def write_results_section(begin: str, end: str, text: str) -> None:
    """Replace the part of benchmarks/RESULTS.md between the markers ``begin`` and ``end`` (included in
    ``text``) or append ``text``; each benchmark script owns one such section."""
    path = Path(__file__).resolve().parent / "RESULTS.md"
    old = path.read_text() if path.exists() else "# edgecompile benchmark results\n"
    if begin in old and end in old:
        rest = old[old.index(end) + len(end):].strip("\n")
        new = old[:old.index(begin)] + text.rstrip("\n") + "\n" + ("\n" + rest + "\n" if rest else "")
    else:
        new = old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    path.write_text(new)
