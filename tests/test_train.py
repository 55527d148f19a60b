"""The NumPy training engine: op gradients (finite differences over the registry's cases), graph
backward (incl. BatchNorm with batch statistics), fine-tuning, masks, distillation, QAT, BN
re-estimation and the schedules."""
import math
from pathlib import Path

import numpy as np
import pytest

from edgecompile import train
from edgecompile.compiler import compile_model, import_model
from edgecompile.ir import Graph, Node, Op, Tensor
from edgecompile.ops import REGISTRY
from edgecompile.train.autograd import GraphModel, bn_attr

EXAMPLES = Path(__file__).resolve().parent.parent / "edgecompile" / "examples"
DIGITS = EXAMPLES / "digits_cnn.onnx"


# ------------------------------------------------------------------ op gradients
def _batch(spec, case) -> int:
    """2 when the case runs with a batch axis (as reference.batchable allows), else 1."""
    a = case.attrs
    shapes = [tuple(s) if s is not None else None for s in case.shapes]
    if spec.infer(*shapes, **a)[:1] != (1,):
        return 1
    if any(s is not None and i not in spec.consts and s[:1] != (1,) for i, s in enumerate(shapes)):
        return 1
    if ((spec.op == Op.CONCAT and a["axis"] == 0) or (spec.op == Op.TRANSPOSE and a["perm"][0] != 0)
            or (spec.op == Op.PAD and (a["pads"][0] or a["pads"][len(a["pads"]) // 2]))):
        return 1
    return 2


def _inputs(spec, case, rng, batch):
    lo, hi = case.quant.get("in_range", (-1.0, 1.3))
    if case.quant.get("in_zp") == -128:
        lo, hi = 0.0, max(hi, 1.0)
    xs = []
    for i, shape in enumerate(case.shapes):
        if shape is None:
            xs.append(None)
        elif i == spec.bias:
            xs.append(rng.normal(0, 0.5, shape))
        elif i in spec.consts:
            fan_in = int(np.prod(shape)) // max(shape[spec.weights.get(i, 0)], 1)
            xs.append(rng.normal(0, 1.0, shape) / math.sqrt(max(fan_in, 1)))
        else:
            xs.append(rng.uniform(lo, hi, (batch,) + tuple(shape[1:]) if batch > 1 else shape))
    # float32 values held in float64: the backward runs in float64, the forward as always
    return [None if x is None else x.astype(np.float32).astype(np.float64) for x in xs]


GRAD_CASES = [pytest.param(spec, case, id=f"{spec.op.value}-{case.name}")
              for spec in REGISTRY.values() if spec.grad is not None for case in spec.cases]


def test_every_op_has_grad():
    assert [s.op for s in REGISTRY.values() if s.grad is None] == []


@pytest.mark.parametrize("spec,case", GRAD_CASES)
def test_op_grad_matches_finite_differences(spec, case):
    """L = sum(r * f(inputs)); dL/d(input) from grad vs central differences on sampled elements
    (half of them where the gradient is non-zero) and along one random direction per input;
    perturbations that move an output across a kink are skipped."""
    rng = np.random.default_rng(0)
    batch = _batch(spec, case)
    xs = _inputs(spec, case, rng, batch)
    attrs = dict(case.attrs)
    fattrs = dict(attrs)
    if spec.op == Op.RESHAPE and batch > 1:
        fattrs["shape"] = (batch,) + tuple(attrs["shape"][1:])

    def f(args):
        return spec.ref_float(*args, **fattrs).astype(np.float64)

    y0 = f(xs)
    r = rng.normal(size=y0.shape)
    grads = spec.grad(r, *xs, **attrs)
    assert len(grads) == len(xs)
    for i, x in enumerate(xs):
        if x is None:
            continue
        gi = grads[i]
        assert gi is not None and gi.shape == x.shape, f"input {i}: grad shape {getattr(gi, 'shape', None)}"
        scale = 1e-3 * np.abs(gi).max() + 1e-4

        def fd(direction, i=i, x=x):
            for eps in (1e-3, 1e-4):
                yp = f([x + eps * direction if k == i else v for k, v in enumerate(xs)])
                ym = f([x - eps * direction if k == i else v for k, v in enumerate(xs)])
                # no output crossed a kink (activation clamp, max-pool switch) within +-eps
                if np.all(np.abs(yp - 2 * y0 + ym) <= 1e-6 + 1e-5 * np.abs(y0)):
                    return float((r * (yp - ym)).sum()) / (2 * eps)
            return None

        nz = np.flatnonzero(gi)
        picks = list(rng.choice(nz, min(4, nz.size), replace=False)) if nz.size else []
        picks += list(rng.choice(x.size, min(4, x.size), replace=False))
        checked = 0
        for k in picks:
            e = np.zeros(x.size)
            e[k] = 1.0
            got = fd(e.reshape(x.shape))
            if got is None:
                continue
            checked += 1
            want = gi.flat[k]
            assert abs(got - want) <= scale + 1e-2 * abs(want), f"input {i} element {k}: fd {got} vs grad {want}"
        assert checked >= min(2, len(picks))
        v = rng.normal(size=x.shape)
        got = fd(v)
        if got is not None:
            want = float((gi * v).sum())
            assert abs(got - want) <= 1e-2 * abs(want) + scale * math.sqrt(x.size), \
                f"input {i} direction: fd {got} vs grad {want}"


# ------------------------------------------------------------------ graph backward
def _smooth_bn_graph(rng) -> Graph:
    """x -> Conv2D 3x3 -> BN (tagged 1x1 depthwise) -> Tanh -> Mean -> FC: smooth everywhere."""
    c, o = 3, 5
    t = {
        "x": Tensor("x", (1, 6, 6, c)),
        "w1": Tensor("w1", (o, 3, 3, c), data=(rng.normal(size=(o, 3, 3, c)) * 0.3).astype(np.float32)),
        "b1": Tensor("b1", (o,), data=rng.normal(size=o).astype(np.float32)),
        "s": Tensor("s", (1, 1, 1, o), data=np.ones((1, 1, 1, o), np.float32)),
        "h": Tensor("h", (o,), data=np.zeros(o, np.float32)),
        "w2": Tensor("w2", (4, o), data=rng.normal(size=(4, o)).astype(np.float32)),
        "b2": Tensor("b2", (4,), data=np.zeros(4, np.float32)),
    }
    for name, shape in (("c", (1, 6, 6, o)), ("n", (1, 6, 6, o)), ("a", (1, 6, 6, o)), ("m", (1, o)), ("y", (1, 4))):
        t[name] = Tensor(name, shape)
    bn = dict(gamma=rng.uniform(0.5, 1.5, o).astype(np.float32), beta=rng.normal(size=o).astype(np.float32),
              mean=np.zeros(o, np.float32), var=np.ones(o, np.float32), eps=1e-5)
    zero = dict(strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0))
    nodes = [Node("conv", Op.CONV2D, ["x", "w1", "b1"], ["c"], dict(zero, pads=(1, 1, 1, 1))),
             Node("bn", Op.DEPTHWISE_CONV2D, ["c", "s", "h"], ["n"], dict(zero, bn=bn)),
             Node("tanh", Op.TANH, ["n"], ["a"]),
             Node("mean", Op.MEAN, ["a"], ["m"], dict(keepdims=False)),
             Node("fc", Op.FULLY_CONNECTED, ["m", "w2", "b2"], ["y"])]
    g = Graph("smooth", t, nodes, ["x"], ["y"])
    # make the stored scale / shift agree with the BN statistics
    m = GraphModel(g, bn_mode="batch")
    return m.to_graph()


@pytest.mark.parametrize("bn_mode", ["frozen", "batch"])
def test_graph_backward_matches_finite_differences(bn_mode):
    rng = np.random.default_rng(1)
    g = _smooth_bn_graph(rng)
    feeds = {"x": rng.normal(size=(6, 6, 6, 3)).astype(np.float32)}
    m = GraphModel(g, bn_mode=bn_mode)
    r = rng.normal(size=(6, 4))

    def loss():
        return float((r * m.forward(feeds, train=True).env["y"]).sum())

    grads = m.backward(m.forward(feeds, train=True), {"y": r.astype(np.float32)})
    assert set(grads) == set(m.params)
    if bn_mode == "batch":
        assert "bn:gamma" in grads and "s" not in grads
    for name, p0 in list(m.params.items()):
        v = rng.normal(size=p0.shape).astype(np.float32)
        eps = 1e-2
        m.params[name] = p0 + eps * v
        lp = loss()
        m.params[name] = p0 - eps * v
        lm = loss()
        m.params[name] = p0
        fd, an = (lp - lm) / (2 * eps), float((grads[name] * v).sum())
        assert abs(fd - an) <= 1e-2 * abs(an) + 1e-3, f"{name}: fd {fd} vs backward {an}"


# ------------------------------------------------------------------ fine-tuning the digits CNN
@pytest.fixture(scope="module")
def digits():
    g = import_model(DIGITS)
    calib = dict(np.load(EXAMPLES / "digits_calib.npz"))
    test = dict(np.load(EXAMPLES / "digits_test.npz"))
    return g, calib, test


def test_finetune_decreases_label_loss_and_keeps_input(digits):
    g, _, test = digits
    before = {k: t.data.copy() for k, t in g.tensors.items() if t.is_const}
    out = train.finetune(g, test, epochs=1, lr=0.01)
    info = out.meta["finetune"]
    assert info["task"] == "classify" and info["alpha"] == 1.0
    assert info["loss_after"] < info["loss_before"]
    assert all(np.array_equal(g.tensors[k].data, v) for k, v in before.items()), "input graph was mutated"
    assert out is not g and any(not np.array_equal(out.tensors[k].data, v) for k, v in before.items())


def test_masks_stay_zero_and_distillation_recovers(digits):
    g, calib, _ = digits
    masks = train.magnitude_masks({k: g.tensors[k].data for k in train.weight_tensors(g)}, 0.5)
    pruned = g.copy()
    for k, m in masks.items():
        pruned.tensors[k] = Tensor(k, g.tensors[k].shape, data=g.tensors[k].data * m)
    out = train.finetune(pruned, calib, teacher=g, masks=masks, epochs=2, lr=0.01, seed=3)
    info = out.meta["finetune"]
    assert info["alpha"] == 0.0                       # no labels: distillation alone
    assert info["loss_after"] < info["loss_before"]
    for k, m in masks.items():
        w = out.tensors[k].data
        assert np.all(w[~m] == 0.0), f"{k}: pruned weights moved"
        assert info["sparsity"][k] == pytest.approx(1 - m.mean())
    assert train.masks_from_zeros(out).keys() >= set(masks)


def test_same_seed_same_weights(digits):
    g, _, test = digits
    a, b, c = (train.finetune(g, test, epochs=1, lr=0.01, seed=s, momentum=0.9, nesterov=True,
                              weight_decay=1e-4) for s in (7, 7, 8))
    names = train.trainable_tensors(g)
    assert all(np.array_equal(a.tensors[k].data, b.tensors[k].data) for k in names)
    assert any(not np.array_equal(a.tensors[k].data, c.tensors[k].data) for k in names)


def test_gradual_pruning_reaches_target(digits):
    g, _, test = digits
    sched = train.GradualPruning(0.7, begin=0.0, end=0.5)
    out = train.finetune(g, test, teacher=g, sparsity_schedule=sched, epochs=2, lr=0.01)
    for k, s in out.meta["finetune"]["sparsity"].items():
        assert s == pytest.approx(0.7, abs=0.01), k
        assert np.mean(out.tensors[k].data == 0) >= 0.7 - 0.01


def test_qat_runs_and_compiles_to_trained_weights(digits):
    g, calib, test = digits
    out = train.finetune(g, test, teacher=g, epochs=1, lr=0.005, qat=True)
    assert out.meta["finetune"]["qat"]
    ranges = out.meta["qat_ranges"]
    assert set(g.inputs) <= set(ranges) and all(lo <= 0.0 <= hi for lo, hi in ranges.values())
    art = compile_model(None, name="digits", calib={g.inputs[0]: calib["input"][:20]}, float_graph=out,
                        ranges=ranges)
    q = art.graph
    for k in train.weight_tensors(out):       # the int8 weights are exactly the QAT-trained weights
        t = q.tensors[k]
        shape = [1] * t.data.ndim
        shape[t.q.axis] = -1
        np.testing.assert_allclose(t.data * t.q.scale.reshape(shape), out.tensors[k].data, rtol=1e-6, atol=1e-7)


def test_bn_reestimate_and_fold():
    gu = train.import_unfolded(DIGITS)
    bns = [n for n in gu.nodes if bn_attr(n)]
    assert len(bns) == 2 and not any(bn_attr(n) for n in import_model(DIGITS).nodes)
    test = dict(np.load(EXAMPLES / "digits_test.npz"))
    feeds = train.batch_inputs(gu, test)
    stats = [dict(n.attrs["bn"]) for n in bns]
    out = train.finetune(gu, test, epochs=1, lr=0.01, bn="batch")
    assert all(n.attrs["bn"] == st for n, st in zip(bns, stats)), "input graph's BN attrs were mutated"
    assert out.meta["finetune"]["bn"] == "batch"
    assert out.meta["finetune"]["loss_after"] < out.meta["finetune"]["loss_before"]
    # after the automatic re-estimation, the stored statistics are those of the BN inputs
    env = GraphModel(out, trainable=[]).forward(feeds).env
    for n in out.nodes:
        if bn_attr(n):
            x = env[n.inputs[0]].reshape(-1, env[n.inputs[0]].shape[-1]).astype(np.float64)
            np.testing.assert_allclose(n.attrs["bn"]["mean"], x.mean(0), rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(n.attrs["bn"]["var"], x.var(0), rtol=1e-3, atol=1e-6)
    folded = train.fold(out)
    assert not any(bn_attr(n) for n in folded.nodes) and len(folded.nodes) == len(out.nodes) - 2
    np.testing.assert_allclose(train.predict(folded, feeds), train.predict(out, feeds), atol=1e-4)
    with pytest.raises(ValueError, match="BN-folded"):
        train.finetune(out, test, qat=True)


# ------------------------------------------------------------------ losses and schedules
def test_losses_gradients():
    rng = np.random.default_rng(0)
    z, t = rng.normal(size=(5, 7)) * 3, rng.normal(size=(5, 7)) * 3
    y = rng.integers(0, 7, 5)
    for f in (lambda a: train.softmax_cross_entropy(a, y), lambda a: train.distillation(a, t, 2.5),
              lambda a: train.mse(a, t)):
        _, d = f(z)
        e = np.zeros_like(z)
        e[2, 3] = 1e-5
        fd = (f(z + e)[0] - f(z - e)[0]) / 2e-5
        assert fd == pytest.approx(float(d[2, 3]), rel=1e-3, abs=1e-6)
    assert train.distillation(t, t, 4.0)[0] == pytest.approx(0.0, abs=1e-9)


def test_schedules():
    for kind in ("constant", "step", "cosine", "polynomial"):
        f = train.make_schedule(kind, 0.1, 100, warmup=10)
        assert f(0) == pytest.approx(0.01) and f(9) == pytest.approx(0.1) and f(10) == pytest.approx(0.1)
        assert 0 <= f(99) <= 0.1
    assert train.make_schedule("step", 1.0, 90, step_size=30)(65) == pytest.approx(0.01)
    assert train.make_schedule("cosine", 1.0, 100)(50) == pytest.approx(0.5)
    assert train.polynomial_sparsity(0, 0.8, begin=0, end=10) == 0.0
    assert train.polynomial_sparsity(5, 0.8, begin=0, end=10) == pytest.approx(0.8 * (1 - 0.5 ** 3))
    assert train.polynomial_sparsity(10, 0.8, begin=0, end=10) == 0.8


def test_sgd_momentum_matches_closed_form():
    p = {"w": np.array([1.0], np.float32)}
    opt = train.SGD(p, lr=0.1, momentum=0.5)
    for _ in range(2):
        opt.step({"w": np.array([1.0], np.float32)})
    assert p["w"][0] == pytest.approx(1.0 - 0.1 * 1.0 - 0.1 * 1.5)


def test_adam_first_step_and_suggest_lr(digits):
    p = {"w": np.array([1.0, -2.0], np.float32)}
    train.Adam(p, lr=0.1).step({"w": np.array([3.0, -0.5], np.float32)})
    np.testing.assert_allclose(p["w"], [0.9, -1.9], rtol=1e-5)        # first step: lr * sign(g)
    g, _, test = digits
    lr = train.suggest_lr(g, test, candidates=(1e3, 1e-2, 1e-9), steps=2, optimizer="sgd")
    assert lr == 1e-2                                                  # 1e3 diverges, 1e-9 does nothing
    out = train.finetune(g, test, epochs=1, lr=1e-3, optimizer="adam", clip_norm=1.0)
    assert out.meta["finetune"]["loss_after"] < out.meta["finetune"]["loss_before"]


def _fc_chain(widths, seed=0) -> Graph:
    rng = np.random.default_rng(seed)
    t, nodes, prev = {"x": Tensor("x", (1, widths[0]))}, [], "x"
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        t[f"w{i}"] = Tensor(f"w{i}", (b, a), data=(rng.normal(0, 1 / np.sqrt(a), (b, a))).astype(np.float32))
        t[f"b{i}"] = Tensor(f"b{i}", (b,), data=rng.normal(0, 0.1, b).astype(np.float32))
        t[f"h{i}"] = Tensor(f"h{i}", (1, b))
        nodes.append(Node(f"h{i}", Op.FULLY_CONNECTED, [prev, f"w{i}", f"b{i}"], [f"h{i}"],
                          dict(act_min=0.0) if i < len(widths) - 2 else {}))
        prev = f"h{i}"
    return Graph("chain", t, nodes, ["x"], [prev])


def test_precondition_round_trip_keeps_the_function():
    from edgecompile.reference import run_float_batch
    from edgecompile.train.precondition import standardize, unstandardize
    g = _fc_chain([12, 10, 12])
    x = {"x": (np.random.default_rng(1).normal(size=(64, 12)) * 8 - 30).astype(np.float32)}
    gs, xs, stats = standardize(g, x)
    assert abs(float(xs["x"].mean())) < 1e-4 and set(stats) == {"x"}
    ref = run_float_batch(g, x)["h1"]
    np.testing.assert_allclose(run_float_batch(gs, xs)["h1"], ref, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(run_float_batch(unstandardize(gs, stats), x)["h1"], ref, rtol=1e-4, atol=1e-3)


def test_output_distillation_with_preconditioning_tracks_the_teacher():
    """Input far from zero (log-mel like): pure output distillation brings a perturbed student back to
    the teacher; without preconditioning the same Adam steps overshoot in the first layer."""
    teacher = _fc_chain([20, 16, 20], seed=2)
    student = teacher.copy()
    for k in ("w0", "w1"):
        w = teacher.tensors[k].data
        student.tensors[k] = Tensor(k, w.shape, data=(w * (1 + 0.02 * np.random.default_rng(3).normal(
            size=w.shape))).astype(np.float32))
    x = {"x": (np.random.default_rng(4).normal(size=(512, 20)) * 10 - 30).astype(np.float32)}
    kw = dict(teacher=teacher, epochs=3, lr=1e-2, optimizer="adam", alpha=0.0, batch_size=32)
    on = train.finetune(student, x, **kw).meta["finetune"]
    off = train.finetune(student, x, precondition=False, **kw).meta["finetune"]
    assert on["alpha"] == 0.0 and on["loss_after"] < 0.1 * on["loss_before"]
    assert on["loss_after"] < 0.25 * off["loss_after"]
