"""Train the bundled example: a small CNN on scikit-learn's 8x8 digits, in pure NumPy.

    python -m edgecompile.examples.train_digits --out edgecompile/examples

writes ``digits_cnn.onnx`` (opset 13), ``digits_calib.npz`` and ``digits_test.npz`` into ``--out``.
The graph is laid out as ``torch.onnx.export`` writes an ``nn.Module`` in eval mode without constant
folding, so BatchNormalization stays a separate node and the compiler's folding pass has work to do::

    input [batch,1,8,8]  (pixels / 16, in [0, 1])
    Conv 1->8 3x3 pad 1 (no bias) -> BatchNormalization -> Relu            8x8
    Conv 8->16 3x3 pad 1 (no bias) -> BatchNormalization -> Relu           8x8
    MaxPool 2x2 stride 2                                                   4x4
    Conv 16->16 3x3 pad 1 group 16 (depthwise) -> Relu                     4x4
    Conv 16->24 1x1 -> Relu                                                4x4
    Flatten (NCHW order) -> Gemm 384->32 -> Relu -> Gemm 32->10 -> logits [batch,10]

The output is raw logits (no Softmax): argmax is the prediction.  Training is deterministic for a
fixed seed (data split, initialisation, shuffling and augmentation all come from seeded generators),
and the files are written deterministically (fixed zip timestamps), so a re-run on the same NumPy
and BLAS rewrites byte-identical files.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

SEED = 0
EPOCHS = 40
BATCH = 32
LR = 3e-3
WEIGHT_DECAY = 1e-4     # decoupled (AdamW), weights only
BN_EPS = 1e-5
BN_MOMENTUM = 0.1       # PyTorch convention; ONNX's momentum attribute is 1 - this
N_CALIB = 100
OPSET = 13
IR_VERSION = 8
FILES = ("digits_cnn.onnx", "digits_calib.npz", "digits_test.npz")


# ------------------------------------------------------------------------------------------ data

def load_split(seed: int = SEED):
    """Digits as NCHW float32 in [0, 1]; stratified 70/30 split -> (x_train, y_train, x_test, y_test)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, stratify=y, random_state=seed)
    return x_tr, y_tr, x_te, y_te


def random_shift(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shift each image by -1, 0 or +1 pixel in each direction, filling with zeros."""
    n = x.shape[0]
    pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    dy, dx = rng.integers(0, 3, size=(2, n))
    rows = dy[:, None] + np.arange(8)[None, :]                  # [n, 8]
    cols = dx[:, None] + np.arange(8)[None, :]
    idx = np.arange(n)[:, None, None]
    return pad[idx, 0, rows[:, :, None], cols[:, None, :]][:, None]


# -------------------------------------------------------------------------------------- layers
# Every layer is a pair forward(...) -> (y, cache) / backward(dy, cache) -> (dx, grads) on NCHW.

def conv_forward(x, w, b, pad):
    """Dense convolution, stride 1, as one matmul over im2col patches.  w: [O, C, KH, KW]."""
    o, c, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))  # [N,C,Ho,Wo,KH,KW]
    n, _, ho, wo = win.shape[:4]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
    y = cols @ w.reshape(o, -1).T
    if b is not None:
        y += b
    return y.reshape(n, ho, wo, o).transpose(0, 3, 1, 2), (x.shape, cols, w, pad, b is not None)


def conv_backward(dy, cache):
    xshape, cols, w, pad, has_b = cache
    o, c, kh, kw = w.shape
    n, _, ho, wo = dy.shape
    dyf = dy.transpose(0, 2, 3, 1).reshape(-1, o)
    grads = {"w": (dyf.T @ cols).reshape(w.shape)}
    if has_b:
        grads["b"] = dyf.sum(0)
    dcols = (dyf @ w.reshape(o, -1)).reshape(n, ho, wo, c, kh, kw)
    dxp = np.zeros((n, c, xshape[2] + 2 * pad, xshape[3] + 2 * pad), dy.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + ho, j:j + wo] += dcols[..., i, j].transpose(0, 3, 1, 2)
    return dxp[:, :, pad:pad + xshape[2], pad:pad + xshape[3]], grads


def dwconv_forward(x, w, b, pad):
    """Depthwise convolution, stride 1.  w: [C, 1, KH, KW] (ONNX layout for group == C)."""
    kh, kw = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))  # [N,C,H,W,KH,KW]
    y = np.einsum("nchwij,cij->nchw", win, w[:, 0], optimize=True) + b[:, None, None]
    return y, (win, w, pad)


def dwconv_backward(dy, cache):
    win, w, pad = cache
    kh, kw = w.shape[2:]
    n, c, h, wd = dy.shape
    grads = {"w": np.einsum("nchwij,nchw->cij", win, dy, optimize=True)[:, None],
             "b": dy.sum((0, 2, 3))}
    dxp = np.zeros((n, c, h + 2 * pad, wd + 2 * pad), dy.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + h, j:j + wd] += dy * w[:, 0, i, j][None, :, None, None]
    return dxp[:, :, pad:pad + h, pad:pad + wd], grads


def bn_forward(x, p, train):
    """BatchNormalization over (N, H, W); updates p's running stats in place when training."""
    if not train:
        inv = 1.0 / np.sqrt(p["var"] + BN_EPS)
        return (x - p["mean"][:, None, None]) * (p["gamma"] * inv)[:, None, None] \
            + p["beta"][:, None, None], None
    m = x.shape[0] * x.shape[2] * x.shape[3]
    mu = x.mean((0, 2, 3))
    var = x.var((0, 2, 3))
    p["mean"] = (1 - BN_MOMENTUM) * p["mean"] + BN_MOMENTUM * mu
    p["var"] = (1 - BN_MOMENTUM) * p["var"] + BN_MOMENTUM * var * m / (m - 1)   # unbiased, as PyTorch
    inv = 1.0 / np.sqrt(var + BN_EPS)
    xhat = (x - mu[:, None, None]) * inv[:, None, None]
    return xhat * p["gamma"][:, None, None] + p["beta"][:, None, None], (xhat, inv, p["gamma"])


def bn_backward(dy, cache):
    xhat, inv, gamma = cache
    grads = {"gamma": (dy * xhat).sum((0, 2, 3)), "beta": dy.sum((0, 2, 3))}
    dxhat = dy * gamma[:, None, None]
    dx = inv[:, None, None] * (dxhat - dxhat.mean((0, 2, 3), keepdims=True)
                               - xhat * (dxhat * xhat).mean((0, 2, 3), keepdims=True))
    return dx, grads


def maxpool_forward(x):
    """2x2 max pool, stride 2; the backward routes the gradient to the first maximum."""
    n, c, h, w = x.shape
    win = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    win = win.reshape(n, c, h // 2, w // 2, 4)
    idx = win.argmax(-1)[..., None]
    return np.take_along_axis(win, idx, -1)[..., 0], (x.shape, idx)


def maxpool_backward(dy, cache):
    (n, c, h, w), idx = cache
    dwin = np.zeros((n, c, h // 2, w // 2, 4), dy.dtype)
    np.put_along_axis(dwin, idx, dy[..., None], -1)
    return dwin.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)


# --------------------------------------------------------------------------------------- model

def init_params(rng: np.random.Generator) -> dict:
    """He-normal weights, zero biases, BN gamma 1 / beta 0 / running mean 0 / running var 1."""
    def he(shape, fan_in):
        return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)

    def bn(c):
        return {"gamma": np.ones(c), "beta": np.zeros(c), "mean": np.zeros(c), "var": np.ones(c)}

    return {
        "conv1": {"w": he((8, 1, 3, 3), 9)},
        "bn1": bn(8),
        "conv2": {"w": he((16, 8, 3, 3), 72)},
        "bn2": bn(16),
        "dw": {"w": he((16, 1, 3, 3), 9), "b": np.zeros(16)},
        "pw": {"w": he((24, 16, 1, 1), 16), "b": np.zeros(24)},
        "fc1": {"w": he((32, 384), 384), "b": np.zeros(32)},
        "fc2": {"w": he((10, 32), 32) * 0.5, "b": np.zeros(10)},
    }


def forward(P: dict, x: np.ndarray, train: bool = False):
    """Logits [N, 10]; with train=True also the caches for backward (and BN stats are updated)."""
    c = {}
    h, c["conv1"] = conv_forward(x, P["conv1"]["w"], None, 1)
    h, c["bn1"] = bn_forward(h, P["bn1"], train)
    h = np.maximum(h, 0); c["relu1"] = h > 0
    h, c["conv2"] = conv_forward(h, P["conv2"]["w"], None, 1)
    h, c["bn2"] = bn_forward(h, P["bn2"], train)
    h = np.maximum(h, 0); c["relu2"] = h > 0
    h, c["pool"] = maxpool_forward(h)
    h, c["dw"] = dwconv_forward(h, P["dw"]["w"], P["dw"]["b"], 1)
    h = np.maximum(h, 0); c["relu3"] = h > 0
    h, c["pw"] = conv_forward(h, P["pw"]["w"], P["pw"]["b"], 0)
    h = np.maximum(h, 0); c["relu4"] = h > 0
    c["flat_shape"] = h.shape
    h = h.reshape(h.shape[0], -1); c["fc1"] = h
    h = h @ P["fc1"]["w"].T + P["fc1"]["b"]
    h = np.maximum(h, 0); c["relu5"] = h > 0; c["fc2"] = h
    logits = h @ P["fc2"]["w"].T + P["fc2"]["b"]
    return (logits, c) if train else logits


def backward(P: dict, dlogits: np.ndarray, c: dict) -> dict:
    """Gradients with the same nesting as P (BN running stats excluded)."""
    g = {}
    g["fc2"] = {"w": dlogits.T @ c["fc2"], "b": dlogits.sum(0)}
    d = (dlogits @ P["fc2"]["w"]) * c["relu5"]
    g["fc1"] = {"w": d.T @ c["fc1"], "b": d.sum(0)}
    d = (d @ P["fc1"]["w"]).reshape(c["flat_shape"]) * c["relu4"]
    d, g["pw"] = conv_backward(d, c["pw"])
    d, g["dw"] = dwconv_backward(d * c["relu3"], c["dw"])
    d = maxpool_backward(d, c["pool"]) * c["relu2"]
    d, g["bn2"] = bn_backward(d, c["bn2"])
    d, g["conv2"] = conv_backward(d, c["conv2"])
    d, g["bn1"] = bn_backward(d * c["relu1"], c["bn1"])
    _, g["conv1"] = conv_backward(d, c["conv1"])
    return g


def softmax_xent(logits: np.ndarray, y: np.ndarray):
    """Mean cross-entropy and its gradient w.r.t. the logits."""
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(1, keepdims=True)
    n = len(y)
    loss = -np.log(p[np.arange(n), y] + 1e-12).mean()
    p[np.arange(n), y] -= 1.0
    return loss, p / n


def predict(P: dict, x: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([forward(P, x[i:i + batch]) for i in range(0, len(x), batch)])


def train(x, y, epochs: int = EPOCHS, seed: int = SEED, log=print) -> dict:
    """AdamW with cosine learning-rate decay, mini-batches, random +-1 pixel shifts; float64."""
    rng = np.random.default_rng(seed)
    P = init_params(rng)
    x = x.astype(np.float64)
    m = {k: {n: np.zeros_like(v) for n, v in layer.items()} for k, layer in P.items()}
    v = {k: {n: np.zeros_like(a) for n, a in layer.items()} for k, layer in P.items()}
    b1, b2, step = 0.9, 0.999, 0
    steps_per_epoch = -(-len(x) // BATCH)
    total = epochs * steps_per_epoch
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        xs = random_shift(x[order], rng)
        ys = y[order]
        losses = []
        for i in range(0, len(x), BATCH):
            lr = LR * 0.5 * (1 + np.cos(np.pi * step / total))
            step += 1
            logits, cache = forward(P, xs[i:i + BATCH], train=True)
            loss, dlogits = softmax_xent(logits, ys[i:i + BATCH])
            losses.append(loss)
            grads = backward(P, dlogits, cache)
            for k, layer in grads.items():
                for n, gr in layer.items():
                    m[k][n] = b1 * m[k][n] + (1 - b1) * gr
                    v[k][n] = b2 * v[k][n] + (1 - b2) * gr * gr
                    mh = m[k][n] / (1 - b1 ** step)
                    vh = v[k][n] / (1 - b2 ** step)
                    if n == "w":
                        P[k][n] *= 1 - lr * WEIGHT_DECAY
                    P[k][n] -= lr * mh / (np.sqrt(vh) + 1e-8)
        if log and (epoch % 5 == 4 or epoch == epochs - 1):
            acc = (predict(P, x).argmax(1) == y).mean()
            log(f"epoch {epoch + 1:3d}/{epochs}  loss {np.mean(losses):.4f}  train acc {acc:.4f}")
    return P


def to_float32(P: dict) -> dict:
    return {k: {n: a.astype(np.float32) for n, a in layer.items()} for k, layer in P.items()}


# -------------------------------------------------------------------------------------- export

def export_onnx(P: dict):
    """The trained float32 parameters as an ONNX ModelProto, named as torch.onnx.export names things."""
    from onnx import TensorProto, helper, numpy_helper

    inits = []

    def param(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, np.float32), name))
        return name

    nodes = []

    def node(op, scope, inputs, **attrs):
        out = f"/{scope}/{op}_output_0"
        nodes.append(helper.make_node(op, inputs, [out], name=f"/{scope}/{op}", **attrs))
        return out

    def conv(x, scope, layer, k, pad, group=1):
        ins = [x, param(f"{scope}.weight", layer["w"])]
        if "b" in layer:
            ins.append(param(f"{scope}.bias", layer["b"]))
        return node("Conv", scope, ins, dilations=[1, 1], group=group, kernel_shape=[k, k],
                    pads=[pad] * 4, strides=[1, 1])

    def bn(x, scope, p):
        names = (("weight", "gamma"), ("bias", "beta"), ("running_mean", "mean"), ("running_var", "var"))
        ins = [x] + [param(f"{scope}.{n}", p[k]) for n, k in names]
        return node("BatchNormalization", scope, ins, epsilon=BN_EPS, momentum=1.0 - BN_MOMENTUM)

    def gemm(x, scope, layer):
        ins = [x, param(f"{scope}.weight", layer["w"]), param(f"{scope}.bias", layer["b"])]
        return node("Gemm", scope, ins, alpha=1.0, beta=1.0, transB=1)

    h = conv("input", "conv1", P["conv1"], 3, 1)
    h = node("Relu", "relu1", [bn(h, "bn1", P["bn1"])])
    h = conv(h, "conv2", P["conv2"], 3, 1)
    h = node("Relu", "relu2", [bn(h, "bn2", P["bn2"])])
    h = node("MaxPool", "pool", [h], ceil_mode=0, kernel_shape=[2, 2], pads=[0, 0, 0, 0], strides=[2, 2])
    h = node("Relu", "relu3", [conv(h, "dw", P["dw"], 3, 1, group=16)])
    h = node("Relu", "relu4", [conv(h, "pw", P["pw"], 1, 0)])
    h = node("Flatten", "flatten", [h], axis=1)
    h = node("Relu", "relu5", [gemm(h, "fc1", P["fc1"])])
    h = gemm(h, "fc2", P["fc2"])
    nodes[-1].output[0] = "logits"

    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="edgecompile.examples.train_digits", producer_version="1")
    model.ir_version = IR_VERSION
    model.doc_string = "8x8 digits CNN (sklearn load_digits), input = pixels/16, output = logits"
    return model


# ---------------------------------------------------------------------------------------- files

def save_npz(path: Path, **arrays) -> None:
    """np.savez_compressed, but byte-identical across runs (fixed zip entry timestamps)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy.getvalue(), compresslevel=9)
    path.write_bytes(buf.getvalue())


def ort_logits(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    return sess.run(["logits"], {"input": x})[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgecompile.examples.train_digits",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path,
                    help="directory for digits_cnn.onnx and the .npz files")
    ap.add_argument("--epochs", type=int, default=EPOCHS, help=f"training epochs (default {EPOCHS})")
    ap.add_argument("--seed", type=int, default=SEED, help=f"split/init/shuffle seed (default {SEED})")
    ap.add_argument("--min-accuracy", type=float, default=0.96,
                    help="exit non-zero if the onnxruntime test accuracy is below this (default 0.96)")
    args = ap.parse_args(argv)

    import onnx

    t0 = time.perf_counter()
    x_tr, y_tr, x_te, y_te = load_split(args.seed)
    print(f"digits: {len(x_tr)} train, {len(x_te)} test")
    P = to_float32(train(x_tr, y_tr, args.epochs, args.seed))
    t_train = time.perf_counter() - t0

    model = export_onnx(P)
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString(deterministic=True)

    ours = predict(P, x_te)                    # float32 NumPy eval forward
    theirs = ort_logits(data, x_te)
    diff = float(np.abs(ours - theirs).max())
    acc_np = float((ours.argmax(1) == y_te).mean())
    acc_ort = float((theirs.argmax(1) == y_te).mean())
    print(f"trained in {t_train:.1f} s; test accuracy numpy {acc_np:.4f}, onnxruntime {acc_ort:.4f} "
          f"({int((theirs.argmax(1) != y_te).sum())} errors / {len(y_te)}); max |numpy - ort| = {diff:.2e}")
    if diff >= 1e-4:
        print(f"error: onnxruntime and the NumPy forward disagree (max abs diff {diff:.3e})", file=sys.stderr)
        return 1

    args.out.mkdir(parents=True, exist_ok=True)
    onnx_file, calib_file, test_file = (args.out / n for n in FILES)
    onnx_file.write_bytes(data)
    save_npz(calib_file, input=x_tr[:N_CALIB])
    save_npz(test_file, input=x_te, y=y_te)
    sizes = [f"{n} ({(args.out / n).stat().st_size} B)" for n in FILES]
    print(f"wrote {', '.join(sizes)} to {args.out}")
    if acc_ort < args.min_accuracy:
        print(f"error: test accuracy {acc_ort:.4f} < --min-accuracy {args.min_accuracy}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
