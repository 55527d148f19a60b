#!/usr/bin/env python3
"""Export the PyTorch fixtures in tests/data/torch/ (run once by hand; tests never import torch).

Small, randomly initialised but realistic architectures (MobileNetV2 blocks, ResNet with BatchNorm
and 1x1 projection shortcuts, DenseNet, a 1-D conv keyword spotter, a TCN with two outputs, an MLP
autoencoder, ceil-mode / count_include_pad pools, concat + F.pad + sigmoid/tanh/softmax, and one model
of ops edgecompile refuses), exported by torch.onnx.export the way users export them: the
TorchScript exporter (``dynamo=False``) at opsets 9, 11 and 13, and the torch.export-based exporter
(``dynamo=True``, needs onnxscript) at opsets 17 and 18.  Most models have a dynamic batch axis.
BatchNorm running statistics and affine parameters are set to random, non-trivial values.  Each
model NAME.onnx comes with NAME_inputs.npz: four random inputs [4, *shape] under the model's input
name, used by tests/test_external_models.py for calibration and verification.

    pip install torch onnxscript       # CPU wheels are enough
    python tools/export_torch_models.py [--out tests/data/torch]

Produced with torch 2.13.0+cpu and onnxscript 0.7.2; the files are committed, so re-running is only
needed to add or change a model.
"""
from __future__ import annotations

import argparse
import itertools
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "torch"


def randomize_bn(model: nn.Module, gen: torch.Generator) -> nn.Module:
    """Non-trivial BatchNorm statistics, as a trained network has."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.3)
            m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.3)
            m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.2)
    return model


# ------------------------------------------------------------------------------ architectures
def conv_bn(cin, cout, k=3, stride=1, groups=1, act: type | None = nn.ReLU6):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([act()] if act else []))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand + ReLU6, 3x3 depthwise + ReLU6, 1x1 project, residual Add."""

    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.residual = stride == 1 and cin == cout
        self.body = nn.Sequential(conv_bn(cin, hidden, 1), conv_bn(hidden, hidden, 3, stride, groups=hidden),
                                  conv_bn(hidden, cout, 1, act=None))

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV2ish(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(conv_bn(3, 8, 3, 2), InvertedResidual(8, 8, 1, 1),
                                      InvertedResidual(8, 12, 2, 4), InvertedResidual(12, 12, 1, 4),
                                      InvertedResidual(12, 16, 2, 4), conv_bn(16, 32, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = self.pool(self.features(x))
        return self.fc(self.dropout(torch.flatten(x, 1)))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:                 # 1x1 projection shortcut
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNetish(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.layers = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 24, 2), BasicBlock(24, 32, 2))
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1)
        return self.fc(x.view(x.size(0), -1))


class KwsConv1d(nn.Module):
    """Keyword spotting over MFCC frames [N, 10 coefficients, 49 frames]."""

    def __init__(self, classes=12):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(10, 24, 5, stride=2, padding=2), nn.BatchNorm1d(24), nn.ReLU(),
            nn.Conv1d(24, 24, 3, padding=1, groups=24), nn.BatchNorm1d(24), nn.ReLU(),
            nn.Conv1d(24, 32, 1), nn.BatchNorm1d(32), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1))
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        return self.fc(self.net(x).flatten(1))


class MlpAutoencoder(nn.Module):
    """An anomaly-detection autoencoder (640 -> 8 -> 640) with a BatchNorm1d after each hidden Linear."""

    def __init__(self, dims=(640, 16, 8, 16)):
        super().__init__()
        layers = []
        for a, b in itertools.pairwise(dims):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(dims[-1], dims[0])

    def forward(self, x):
        return self.out(self.body(x))


class Pools(nn.Module):
    """MaxPool with ceil_mode and AvgPool with count_include_pad on odd sizes."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(8, 12, 3, padding=1)
        self.pool2 = nn.AvgPool2d(3, 2, padding=1, count_include_pad=True)
        self.pool3 = nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)
        self.fc = nn.Linear(12 * 3 * 3, 5)

    def forward(self, x):
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool3(self.pool2(F.relu(self.conv2(x))))
        return self.fc(x.view(x.size(0), -1))


class CatPadAct(nn.Module):
    """Two branches concatenated on channels, F.pad, sigmoid gate, tanh, a softmax head."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(4, 6, 3, padding=1)
        self.b = nn.Conv2d(4, 5, 1)
        self.c = nn.Conv2d(11, 8, 3, stride=2)
        self.gate = nn.Conv2d(8, 8, 1)
        self.fc = nn.Linear(8 * 4 * 5, 6)

    def forward(self, x):
        y = torch.cat([F.relu(self.a(x)), torch.clamp(self.b(x), 0, 6)], dim=1)
        y = self.c(F.pad(y, (1, 2, 0, 1)))
        y = torch.tanh(y) * 0.5 + torch.sigmoid(self.gate(y)).mean(dim=(2, 3), keepdim=True)
        return F.softmax(self.fc(y.view(y.size(0), -1)), dim=1)


class DenseNetish(nn.Module):
    """Dense block (BN-ReLU-Conv layers whose outputs are concatenated), transition with AvgPool,
    BN-ReLU head and a mean over H, W: BatchNorms follow Concat / AvgPool, so nothing folds them."""

    def __init__(self, growth=6, classes=7):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.dense = nn.ModuleList()
        c = 8
        for _ in range(3):
            self.dense.append(nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, 2 * growth, 1, bias=False),
                                            nn.BatchNorm2d(2 * growth), nn.ReLU(),
                                            nn.Conv2d(2 * growth, growth, 3, padding=1, bias=False)))
            c += growth
        self.transition = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, 12, 1, bias=False), nn.AvgPool2d(2))
        self.head = nn.Sequential(nn.BatchNorm2d(12), nn.ReLU())
        self.fc = nn.Linear(12, classes)

    def forward(self, x):
        x = self.stem(x)
        for layer in self.dense:
            x = torch.cat([x, layer(x)], 1)
        x = self.head(self.transition(x))
        return self.fc(torch.mean(x, dim=(2, 3)))


class Tcn(nn.Module):
    """Temporal conv net over [N, 8 features, 40 steps]: dilated and padding='same' (even kernel:
    asymmetric) Conv1d, a per-step Linear on [N, T, C] (MatMul + Add), and two outputs."""

    def __init__(self, classes=4):
        super().__init__()
        self.c1 = nn.Conv1d(8, 16, 3, padding=2, dilation=2)
        self.c2 = nn.Conv1d(16, 16, 4, padding="same")
        self.step = nn.Linear(16, 24)
        self.fc = nn.Linear(24, classes)

    def forward(self, x):
        y = F.relu(self.c2(F.relu(self.c1(x))))
        emb = F.relu(self.step(y.transpose(1, 2))).mean(dim=1)
        return self.fc(emb), emb


class UnsupportedOps(nn.Module):
    """Ops edgecompile refuses (LeakyReLU, nearest upsampling, squeeze-excitation's tensor x tensor
    product, hardswish): the test expects one ModelError naming every such node."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 8, 3, padding=1)
        self.se = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        y = F.interpolate(F.leaky_relu(self.c(x), 0.1), scale_factor=2.0, mode="nearest")
        y = y * torch.sigmoid(self.se(y.mean((2, 3), keepdim=True)))
        return F.hardswish(y)


# ------------------------------------------------------------------------------ export
# name: (constructor, input shape, exporter, opset, dynamic batch).  "torchscript" folds each
# BatchNorm into the Conv before it (eval peephole); "torchscript-bn" exports with
# training=TrainingMode.PRESERVE on the eval-mode model, which keeps the BatchNormalization nodes.
# The dynamo exporter's own optimizer folds BatchNorm as well; its opset-17 down-conversion fails on
# ReduceMean (axes as input since opset 18), so only the model without ReduceMean is exported at 17.
MODELS = {
    "mbv2_op13": (MobileNetV2ish, (1, 3, 32, 32), "torchscript", 13, True),
    "mbv2_dynamo_op18": (MobileNetV2ish, (1, 3, 32, 32), "dynamo", 18, True),
    "resnet_bn_op11": (ResNetish, (1, 3, 24, 24), "torchscript-bn", 11, True),
    "resnet_dynamo_op18": (ResNetish, (1, 3, 24, 24), "dynamo", 18, False),
    "kws_conv1d_bn_op9": (KwsConv1d, (1, 10, 49), "torchscript-bn", 9, True),
    "kws_conv1d_dynamo_op18": (KwsConv1d, (1, 10, 49), "dynamo", 18, True),
    "mlp_ae_op13": (MlpAutoencoder, (1, 640), "torchscript", 13, True),
    "mlp_ae_dynamo_op17": (MlpAutoencoder, (1, 640), "dynamo", 17, True),
    "pools_op11": (Pools, (1, 3, 19, 19), "torchscript", 11, True),
    "catpad_op9": (CatPadAct, (1, 4, 9, 9), "torchscript", 9, False),
    "catpad_op13": (CatPadAct, (1, 4, 9, 9), "torchscript", 13, True),
    "catpad_dynamo_op18": (CatPadAct, (1, 4, 9, 9), "dynamo", 18, True),
    "densenet_op13": (DenseNetish, (1, 3, 16, 16), "torchscript", 13, True),
    "densenet_dynamo_op18": (DenseNetish, (1, 3, 16, 16), "dynamo", 18, True),
    "tcn_op11": (Tcn, (1, 8, 40), "torchscript", 11, True),
    "tcn_dynamo_op18": (Tcn, (1, 8, 40), "dynamo", 18, True),
    "unsupported_op13": (UnsupportedOps, (1, 3, 8, 8), "torchscript", 13, True),
}


def export(name: str, out: Path, seed: int) -> Path:
    make, shape, exporter, opset, dynamic = MODELS[name]
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = randomize_bn(make(), gen).eval()
    x = torch.randn(shape, generator=gen)
    path = out / f"{name}.onnx"
    if exporter.startswith("torchscript"):
        axes = dynamic or None
        mode = torch.onnx.TrainingMode.PRESERVE if exporter == "torchscript-bn" else torch.onnx.TrainingMode.EVAL
        outs = [f"output{i}" if i else "output" for i in range(len(model(x)) if isinstance(model(x), tuple) else 1)]
        axes = axes and {"input": {0: "batch"}, **{o: {0: "batch"} for o in outs}}
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=opset, input_names=["input"],
                          output_names=outs, dynamic_axes=axes, training=mode)
    else:
        dyn = {"x": {0: torch.export.Dim("batch", min=1, max=64)}} if dynamic else None
        prog = torch.onnx.export(model, (x,), dynamo=True, opset_version=opset, dynamic_shapes=dyn,
                                 input_names=["input"], external_data=False)
        prog.save(str(path), external_data=False)
    m = onnx.load(str(path))
    assert m.opset_import[0].version == opset, f"{name}: exported at opset {m.opset_import[0].version}"
    onnx.checker.check_model(m)
    batch = torch.randn((4,) + shape[1:], generator=gen)
    np.savez_compressed(out / f"{name}_inputs.npz", **{m.graph.input[0].name: batch.numpy()})
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("names", nargs="*", help=f"models to export (default: all of {', '.join(MODELS)})")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore")
    for name in args.names or MODELS:
        p = export(name, args.out, seed=list(MODELS).index(name))
        m = onnx.load(str(p))
        ops = sorted({n.op_type for n in m.graph.node})
        print(f"{p.name}: {p.stat().st_size:,} B, opset {m.opset_import[0].version}, {len(m.graph.node)} nodes: "
              f"{' '.join(ops)}")


if __name__ == "__main__":
    main()
