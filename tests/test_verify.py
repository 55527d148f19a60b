"""Host verification localizes a mismatch to the first diverging node."""
import re

import numpy as np

from edgecompile import data as D
from edgecompile.analysis import emitted_consts
from edgecompile.compiler import compile_model, verify, write_project
from edgecompile.examples import DIGITS_CALIB, DIGITS_ONNX


def test_clean_build_is_bit_exact(tmp_path):
    art = compile_model(DIGITS_ONNX, calib=DIGITS_CALIB)
    out = write_project(art, tmp_path / "m")
    inputs = D.input_arrays(art.float_graph, D.load_npz(DIGITS_CALIB), "calib")
    res = verify(art, out, {k: v[:20] for k, v in inputs.items()})
    assert res.ok and res.bytes_compared == 20 * 10 and res.first_bad_node is None


def test_corrupted_weights_are_localized(tmp_path):
    art = compile_model(DIGITS_ONNX, calib=DIGITS_CALIB, name="dg")
    g = art.graph
    # a weighted node past the first whose host kernel reads its int8 weights from NAME_weights.c (variants
    # that re-lay weights out carry them in params; the 3x3 depthwise reads its table except on Helium
    # cores): corrupt them in the generated C only
    order = emitted_consts(g)          # the dg_w<k> numbering
    victims = [(k, n) for k, n in enumerate(g.nodes)
               if n.kernel and len(n.inputs) > 1 and n.inputs[1] in order and n.variant != "3x3"]
    victim_idx, victim = next(v for v in victims if v[0] >= 2)
    out = write_project(art, tmp_path / "m")
    wfile = out / "dg_weights.c"
    text = wfile.read_text()
    target = f"dg_w{order.index(victim.inputs[1])}"
    pat = re.compile(rf"(const int8_t {target}\[\d+\] = \{{\s*)(-?\d+)")
    text, n = pat.subn(lambda m: m.group(1) + str(-int(m.group(2)) if int(m.group(2)) else "5"), text)
    assert n == 1
    wfile.write_text(text)
    inputs = D.input_arrays(art.float_graph, D.load_npz(DIGITS_CALIB), "calib")
    res = verify(art, out, {k: v[:10] for k, v in inputs.items()})
    assert not res.ok
    assert res.first_bad_node.startswith(victim.name), (res.first_bad_node, victim.name)
    bad = {name: b for name, _, b, _ in res.node_report}
    assert all(bad[n.name] == 0 for n in g.nodes[:victim_idx] if n.name in bad)
