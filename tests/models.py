"""Small ONNX test models built with onnx.helper, shaped the way real exporters write them.

``Net`` is a tiny builder: ``Net((1, 3, 8, 8))`` starts a PyTorch-style NCHW model, ``Net(..,
nhwc=True)`` a tf2onnx/Keras-style one (declared NHWC input followed by Transpose(0, 3, 1, 2)).
Weights are seeded random.  ``run_ort`` runs a model in onnxruntime.
"""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


class Net:
    def __init__(self, shape, opset: int = 13, nhwc: bool = False, batch="N", seed: int = 0):
        """shape: logical NCHW shape (batch first); the declared input dims use ``batch`` for dim 0
        (a name -> symbolic, 0 -> unknown value 0, None -> no value at all, int -> fixed)."""
        self.opset, self.rng = opset, np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0
        declared = [shape[0], *shape[2:], shape[1]] if nhwc else list(shape)
        self.inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch] + declared[1:])]
        self.input_shape = tuple([1] + declared[1:])
        self.x = self.op("Transpose", ["x"], perm=[0, 3, 1, 2]) if nhwc else "x"

    # building blocks -------------------------------------------------------------------------
    def name(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def init(self, array, base: str = "w") -> str:
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def rand(self, *shape, scale: float = 0.5, base: str = "w") -> str:
        return self.init(self.rng.normal(0, scale, shape).astype(np.float32), base)

    def op(self, op_type: str, inputs, outputs: int = 1, name: str | None = "", **attrs):
        outs = [self.name(op_type.lower()) for _ in range(outputs)]
        node_name = self.name(op_type) if name == "" else (name or "")
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=node_name, **attrs))
        return outs[0] if outputs == 1 else outs

    # common layers ---------------------------------------------------------------------------
    def conv(self, x, cin, cout, k=3, group=1, bias=True, **attrs):
        ks = (k,) if attrs.pop("one_d", False) else (k, k)
        w = self.rand(cout, cin // group, *ks)
        ins = [x, w] + ([self.rand(cout, scale=0.1, base="b")] if bias else [])
        return self.op("Conv", ins, group=group, **attrs)

    def bn(self, x, c, **attrs):
        r = self.rng
        ins = [x, self.init(r.uniform(0.5, 1.5, c).astype(np.float32), "gamma"),
               self.init(r.normal(0, 0.1, c).astype(np.float32), "beta"),
               self.init(r.normal(0, 0.1, c).astype(np.float32), "mean"),
               self.init(r.uniform(0.5, 1.5, c).astype(np.float32), "var")]
        return self.op("BatchNormalization", ins, epsilon=1e-3, **attrs)

    def clip(self, x, lo=0.0, hi=6.0):
        if self.opset < 11:
            return self.op("Clip", [x], min=lo, max=hi)
        return self.op("Clip", [x, self.init(np.float32(lo), "lo"), self.init(np.float32(hi), "hi")])

    def flatten_view(self, x):
        """PyTorch's x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze -> Concat -> Reshape."""
        shape = self.op("Shape", [x])
        n = self.op("Gather", [shape, self.init(np.int64(0), "idx")], axis=0)
        if self.opset >= 13:
            n1 = self.op("Unsqueeze", [n, self.init(np.array([0], np.int64), "axes")])
        else:
            n1 = self.op("Unsqueeze", [n], axes=[0])
        target = self.op("Concat", [n1, self.init(np.array([-1], np.int64), "minus1")], axis=0)
        return self.op("Reshape", [x, target])

    # finishing -------------------------------------------------------------------------------
    def model(self, *outputs) -> onnx.ModelProto:
        outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs]
        graph = helper.make_graph(self.nodes, "test", self.inputs, outs, self.inits)
        opsets = [helper.make_opsetid("", self.opset)]
        m = helper.make_model(graph, opset_imports=opsets, producer_name="edgecompile-tests",
                              ir_version=helper.find_min_ir_version_for(opsets))
        return onnx.shape_inference.infer_shapes(m)    # declares output shapes, as exporters do

    def sample(self, seed: int = 1) -> np.ndarray:
        return np.random.default_rng(seed).normal(0, 1, self.input_shape).astype(np.float32)


def run_ort(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    s = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def conv_bn_relu_pool_fc(opset: int = 13, nhwc: bool = False, batch="N") -> tuple[Net, onnx.ModelProto]:
    """The classic small CNN: Conv-BN-Relu-MaxPool, DWConv-BN-Clip, GlobalAveragePool, Flatten, Gemm."""
    n = Net((1, 3, 12, 12), opset=opset, nhwc=nhwc, batch=batch)
    y = n.op("Relu", [n.bn(n.conv(n.x, 3, 8, pads=[1, 1, 1, 1]), 8)])
    y = n.op("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    y = n.clip(n.bn(n.conv(y, 8, 8, group=8, bias=False, pads=[1, 1, 1, 1], strides=[2, 2]), 8))
    y = n.op("Flatten", [n.op("GlobalAveragePool", [y])], axis=1)
    y = n.op("Gemm", [y, n.rand(5, 8), n.rand(5, base="b")], transB=1)
    return n, n.model(y)
