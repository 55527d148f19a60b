"""TFLM bit-exact conformance (issue #5): our generated C == the TFLM reference interpreter.

(a)+(c) every registered op case, quantized by edgecompile, exported to .tflite and run in TFLM;
(b) the MLPerf Tiny int8.tflite models imported as is, on the evaluation half of their data (a
    20-sample subset in the default run, all samples and the official accuracies under -m slow);
plus the ``edgecompile compare`` command and its per-node localization.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tflite_micro")

from edgecompile.cli import main  # noqa: E402
from edgecompile.compiler import compile_tflite, quantize_inputs, write_project  # noqa: E402
from edgecompile.errors import ModelError  # noqa: E402
from edgecompile.host import HostModel  # noqa: E402
from edgecompile.ops import REGISTRY  # noqa: E402
from edgecompile.tflite_export import export_tflite  # noqa: E402
from edgecompile.tflm import Tflm, compare  # noqa: E402

from op_harness import compile_case  # noqa: E402

CASES = [pytest.param(spec, case, id=f"{spec.op.value}-{case.name}")
         for spec in REGISTRY.values() if spec.kernel for case in spec.cases]


@pytest.mark.parametrize("spec,case", CASES)
def test_exported_op_matches_tflm(spec, case, tmp_path):
    """An edgecompile-quantized one-op model, exported, runs bit-exactly the same in TFLM."""
    art, feeds, host = compile_case(spec, case, tmp_path / "out")
    try:
        model = export_tflite(art.graph)
    except ModelError as e:
        pytest.skip(f"not expressible in TFLite: {e}")
    g = art.graph
    tflm = Tflm(model)
    n = len(next(iter(feeds.values())))
    for q in quantize_inputs(g, [{k: v[i] for k, v in feeds.items()} for i in range(n)]):
        c, _ = host.run(q, [g.tensors[g.outputs[0]].size])
        want = tflm.run(q)[0]
        bad = np.flatnonzero(c[0] != want.ravel())
        assert bad.size == 0, f"{bad.size}/{want.size} bytes differ, first at {bad[:5]}"


# ------------------------------------------------------------------ MLPerf Tiny int8.tflite models
MODELS = {"kws": "kws_dscnn", "vww": "vww_mobilenetv1_025", "ic": "ic_resnet8", "ad": "ad_fc_autoencoder"}
OFFICIAL = {"kws": 0.904, "vww": 0.848, "ic": 0.870, "ad": 0.806}     # evaluation half, bench README


def eval_inputs(bench, task: str, limit: int | None):
    """(int8 inputs [N, *input shape], labels or AD clip ids, float AD windows) of the evaluation half."""
    if task == "ad":
        d = np.load(bench / "data" / "ad01.npz")
        x, y = d["x"][-124:], d["y"][-124:]
        clips = x.shape[0] if limit is None else max(1, limit // 196 + 1)
        win = np.stack([c[i:i + 5].reshape(640) for c in x[:clips] for i in range(196)])
        q = np.clip(np.round(win / np.float32(0.39101523)) + 89, -128, 127).astype(np.int8)
        n = len(q) if limit is None else limit
        return q[:n, None], y, win[:n]
    d = np.load(bench / "data" / ({"kws": "kws01", "vww": "vww01", "ic": "ic01"}[task] + ".npz"))
    half = {"kws": 500, "vww": 500, "ic": 100}[task]
    x, y = d["x"][-half:], d["y"][-half:]
    if limit is not None:
        x, y = x[:limit], y[:limit]
    if task == "kws":
        q = x.reshape(-1, 1, 49, 10, 1).astype(np.int8)
    else:
        q = (x.astype(np.int16) - 128).astype(np.int8)[:, None]
    return q, y, None


def run_bench(bench, tmp_path, task: str, limit: int | None):
    path = bench / "models" / MODELS[task] / "int8.tflite"
    art = compile_tflite(str(path), name=task)
    out = write_project(art, tmp_path / task)
    q, y, win = eval_inputs(bench, task, limit)
    res = compare(art, out, str(path), [[s] for s in q])
    return art, res, y, win


def metric(art, res, task: str, y, win) -> float:
    out = res.c_outputs[0].reshape(res.samples, -1)
    if task != "ad":
        return float(np.mean(out.argmax(1) == y))
    from sklearn.metrics import roc_auc_score
    t = art.graph.tensors[art.graph.outputs[0]]
    rec = (out.astype(np.float32) - t.q.zp) * t.q.s
    err = ((win - rec) ** 2).mean(axis=1).reshape(-1, 196).mean(axis=1)
    return float(roc_auc_score(y[:len(err)], err))


@pytest.mark.parametrize("task", list(MODELS))
def test_bench_tflite_bit_exact_subset(task, bench_dir, tmp_path):
    art, res, _, _ = run_bench(bench_dir, tmp_path, task, 20)
    assert res.samples == 20 and res.mismatches == 0, res.node_report


@pytest.mark.slow
@pytest.mark.parametrize("task", list(MODELS))
def test_bench_tflite_all_samples_and_accuracy(task, bench_dir, tmp_path):
    art, res, y, win = run_bench(bench_dir, tmp_path, task, None)
    assert res.mismatches == 0, (res.mismatching_samples[:10], res.node_report)
    assert round(metric(art, res, task, y, win), 3) == OFFICIAL[task]


# ------------------------------------------------------------------ edgecompile compare
def test_compare_cli_on_tflite(bench_dir, tmp_path, capsys):
    np.savez(tmp_path / "x.npz", x=np.load(bench_dir / "data" / "kws01.npz")["x"][-3:],
             y=np.load(bench_dir / "data" / "kws01.npz")["y"][-3:])
    rc = main(["compare", str(bench_dir / "models" / "kws_dscnn" / "int8.tflite"), "--inputs",
               str(tmp_path / "x.npz")])
    out = capsys.readouterr().out
    assert rc == 0 and "0 of 36 output bytes differ -> bit-exact" in out, out


def test_compare_localizes_a_corrupted_node(bench_dir, tmp_path):
    """Change one conv's weights in the .tflite TFLM runs: compare names that node as the first bad one."""
    import flatbuffers
    from edgecompile.tflite_import import schema
    path = bench_dir / "models" / "ic_resnet8" / "int8.tflite"
    art = compile_tflite(str(path), name="ic")
    out = write_project(art, tmp_path / "ic")
    sch = schema()
    m = sch.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    sg = m.subgraphs[0]
    victim_op = 4                                      # the first stride-2 conv
    wbuf = m.buffers[sg.tensors[sg.operators[victim_op].inputs[1]].buffer]
    wbuf.data = np.asarray(wbuf.data, np.uint8).copy()
    wbuf.data[::7] ^= 0x55
    b = flatbuffers.Builder(1 << 20)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    q, _, _ = eval_inputs(bench_dir, "ic", 3)
    res = compare(art, out, bytes(b.Output()), [[s] for s in q])
    assert res.mismatches > 0
    name = art.graph.nodes[victim_op].name
    assert res.first_bad_node.startswith(name), res.node_report
    assert all(r[2] == 0 for r in res.node_report[:victim_op])
