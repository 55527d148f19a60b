"""fold_pad: merge a zero Pad into the padding of the convolution that reads it.

PyTorch's F.pad before a convolution, padding="same" with an even kernel (exported as Pad + Conv
by the torch.export-based exporter) and TensorFlow's explicit Pad before a VALID stride-2 Conv all
become one PAD node followed by a Conv2D / DepthwiseConv2D.  When the pad value is 0, only H and W
are padded, and the convolution is the pad's only reader, the padding moves into the convolution's
``pads``; this is exact in int8 too (the PAD output shares its input's quantization, and the kernels
skip padded taps, which equals reading the zero point).  The 1-D form, PAD on [N, W, C] then the
importer's Reshape to [N, 1, W, C], folds the same way.
"""
from __future__ import annotations

from ..ir import Graph, Node, Op
from . import rewrite

CONVS = {Op.CONV2D, Op.DEPTHWISE_CONV2D}


def _private(g: Graph, name: str, cons: dict) -> bool:
    return name not in g.outputs and len(cons.get(name, [])) == 1


def _spatial_pads(g: Graph, pad: Node, reshape: Node | None):
    """(top, left, bottom, right) of ``pad`` in the convolution's NHWC input, or None."""
    if pad.attrs.get("value", 0.0) != 0.0:
        return None
    shape = g.tensors[pad.inputs[0]].shape
    r = len(shape)
    before, after = list(pad.attrs["pads"][:r]), list(pad.attrs["pads"][r:])
    if reshape is not None:                        # [N, W, C] -> [N, 1, W, C]
        out = g.tensors[reshape.outputs[0]].shape
        padded = g.tensors[pad.outputs[0]].shape
        if r != 3 or out != (padded[0], 1, padded[1], padded[2]):
            return None
        before, after = [before[0], 0] + before[1:], [after[0], 0] + after[1:]
    elif r != 4:
        return None
    if before[0] or after[0] or before[3] or after[3]:
        return None
    return before[1], before[2], after[1], after[2]


def _step(g: Graph) -> bool:
    prod, cons = g.producer(), g.consumers()
    for conv in g.nodes:
        if conv.op not in CONVS:
            continue
        src = prod.get(conv.inputs[0])
        reshape = None
        if src is not None and src.op == Op.RESHAPE and _private(g, src.outputs[0], cons):
            reshape, src = src, prod.get(src.inputs[0])
        if src is None or src.op != Op.PAD or not _private(g, src.outputs[0], cons):
            continue
        extra = _spatial_pads(g, src, reshape)
        if extra is None:
            continue
        conv.attrs["pads"] = tuple(int(p) + e for p, e in zip(conv.attrs.get("pads", (0, 0, 0, 0)), extra))
        if reshape is None:
            conv.inputs[0] = src.inputs[0]
        else:                                      # reshape the unpadded input instead
            n, w, c = g.tensors[src.inputs[0]].shape
            reshape.inputs[0] = src.inputs[0]
            reshape.attrs = {"shape": (n, 1, w, c)}
            g.tensors[reshape.outputs[0]].shape = (n, 1, w, c)
        g.nodes.remove(src)
        g.tensors.pop(src.outputs[0])
        return True
    return False


def fold_pad(g: Graph, ctx) -> Graph:
    return rewrite(g, _step)
