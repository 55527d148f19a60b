"""The real MLPerf Tiny models (../shared/bench): compile with the calibration split, then the C must be
bit-exact with the NumPy reference on evaluation samples, and the int8 accuracy close to float."""
import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_data as B  # noqa: E402

from edgecompile.compiler import compile_model, dequantize_outputs, verify, write_project  # noqa: E402

MODELS = list(B.TASKS)


@pytest.fixture(scope="module")
def compiled(bench_dir, tmp_path_factory):
    cache = {}

    def get(model):
        if model not in cache:
            task = B.TASKS[model]
            calib, x_eval, y = B.split(task)
            art = compile_model(B.model_path(task), calib={"x": calib})
            out = write_project(art, tmp_path_factory.mktemp(model) / art.name)
            cache[model] = (task, art, out, x_eval, y)
        return cache[model]
    return get


def _inputs(art, x):
    t = art.graph.tensors[art.graph.inputs[0]]
    return {t.name: x.reshape((-1,) + t.shape[1:])}


@pytest.mark.parametrize("model", MODELS)
def test_bit_exact_on_eval_samples(compiled, model):
    task, art, out, x_eval, y = compiled(model)
    x = x_eval[:2].reshape(-1, 640)[::37] if task.metric == "auc" else x_eval[:12]
    res = verify(art, out, _inputs(art, x), with_float=False)
    assert res.mismatches == 0, f"first diverging node: {res.first_bad_node}"
    assert res.bytes_compared == x.shape[0] * art.graph.tensors[art.graph.outputs[0]].size


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_int8_accuracy_close_to_float(compiled, model):
    task, art, out, x_eval, y = compiled(model)
    if task.metric == "auc":
        x = x_eval.reshape(-1, 640)
    else:
        x = x_eval
    res = verify(art, out, _inputs(art, x), with_float=True)
    assert res.mismatches == 0
    deq = dequantize_outputs(art.graph, res)[0]
    f = res.float_outputs[0]
    if task.metric == "auc":
        s_q = ((deq.reshape(x_eval.shape) - x_eval) ** 2).mean(axis=(1, 2))
        s_f = ((f.reshape(x_eval.shape) - x_eval) ** 2).mean(axis=(1, 2))
        assert B.auc(s_q, y) >= B.auc(s_f, y) - 0.01
    else:
        acc_q = np.mean(deq.reshape(len(y), -1).argmax(1) == y)
        acc_f = np.mean(f.reshape(len(y), -1).argmax(1) == y)
        assert acc_q >= acc_f - 0.01, (acc_q, acc_f)
