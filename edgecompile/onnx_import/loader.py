"""Reading an ONNX file into a ModelProto with clear errors, fixing the batch dimension, and
ONNX shape inference (used to cross-check the importer and to size tensors behind unsupported
nodes)."""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import onnx
from onnx import TensorProto

from ..errors import ModelError

log = logging.getLogger("edgecompile.onnx_import")

MIN_OPSET, MAX_OPSET = 7, 25


def read(model) -> tuple[onnx.ModelProto, str, str]:
    """(model copy, source description, sha256 of the serialized bytes)."""
    if isinstance(model, onnx.ModelProto):
        data = model.SerializeToString()
        source = model.graph.name or "<ModelProto>"
    else:
        path = Path(model)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ModelError(f"cannot read model {path}: {e.strerror or e}") from None
        source = str(path)
    try:
        m = onnx.load_model_from_string(data)
    except Exception as e:  # protobuf raises DecodeError and friends
        raise ModelError(f"{source}: not a valid ONNX model (truncated or not ONNX: "
                         f"{type(e).__name__}: {str(e).strip() or 'parse error'})") from None
    if m.ir_version <= 0 or not m.graph.node or not m.graph.output:
        raise ModelError(f"{source}: not an ONNX model (no graph, nodes or outputs)")
    if not isinstance(model, onnx.ModelProto) and any(
            t.data_location == TensorProto.EXTERNAL for t in m.graph.initializer):
        try:
            onnx.external_data_helper.load_external_data_for_model(m, str(Path(model).parent))
        except OSError as e:
            raise ModelError(f"{source}: cannot read external weights: {e}") from None
    return m, source, hashlib.sha256(data).hexdigest()


def opset_of(m: onnx.ModelProto, source: str) -> int:
    versions = {o.domain: o.version for o in m.opset_import}
    opset = versions.get("", versions.get("ai.onnx"))
    if opset is None:
        raise ModelError(f"{source}: the model imports no default-domain opset")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ModelError(f"{source}: opset {opset} is not supported (supported: {MIN_OPSET}..{MAX_OPSET})")
    return opset


def real_inputs(m: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs that are not initializers (old exporters list weights as inputs too)."""
    inits = {t.name for t in m.graph.initializer}
    return [vi for vi in m.graph.input if vi.name not in inits]


def fix_batch(m: onnx.ModelProto, source: str) -> dict[str, tuple[int, ...]]:
    """Set an unknown, symbolic or 0 batch dimension to 1 (in place); returns the input shapes."""
    shapes = {}
    for vi in real_inputs(m):
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            raise ModelError(f"{source}: input {vi.name!r} is not a tensor")
        if tt.elem_type != TensorProto.FLOAT:
            raise ModelError(f"{source}: input {vi.name!r} has element type "
                             f"{TensorProto.DataType.Name(tt.elem_type)}; only float32 models are supported")
        if not tt.HasField("shape"):
            raise ModelError(f"{source}: input {vi.name!r} has no declared shape")
        dims = []
        for i, d in enumerate(tt.shape.dim):
            known = d.HasField("dim_value") and d.dim_value > 0
            if not known and i == 0:
                d.Clear()
                d.dim_value = 1
            elif not known:
                raise ModelError(f"{source}: input {vi.name!r} dimension {i} is unknown "
                                 f"({d.dim_param or '?'}); only the batch dimension may be dynamic")
            dims.append(int(d.dim_value))
        shapes[vi.name] = tuple(dims)
    return shapes


def infer_shapes(m: onnx.ModelProto) -> dict[str, tuple]:
    """ONNX-inferred shapes (None for unknown dims); {} when inference fails."""
    try:
        inferred = onnx.shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)
    except Exception as e:
        log.debug("ONNX shape inference failed: %s", e)
        return {}
    out = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            out[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None
                                 for d in vi.type.tensor_type.shape.dim)
    return out
