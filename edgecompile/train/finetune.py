"""Fine-tuning a float graph in NumPy: mini-batch SGD with momentum, a learning-rate schedule, fixed
or gradually grown pruning masks, label and / or distillation losses, optional QAT."""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
from tqdm import tqdm

from ..ir import Graph
from ..ops import REGISTRY
from .autograd import GraphModel, batch_inputs, bn_attr, trainable_tensors, weight_tensors
from .batchnorm import reestimate_bn
from .precondition import standardize, unstandardize
from .losses import Objective, find_head
from .optim import SGD, Adam, make_schedule
from .qat import FakeQuant, fake_quant_weights

TASKS = ("auto", "classify", "regress", "autoencoder")


def _task(g: Graph, head: str, beta, labels, task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r} (choose from {', '.join(TASKS)})")
    if task != "auto":
        return task
    if beta is not None:
        return "classify"
    if labels is not None:
        y = np.asarray(labels)
        return "classify" if y.ndim == 1 and y.dtype.kind in "iub" else "regress"
    if len(g.inputs) == 1 and g.tensors[g.inputs[0]].size == g.tensors[head].size:
        return "autoencoder"
    return "classify"


def predict(g: Graph, feeds: dict[str, np.ndarray], tensor: str | None = None, batch_size: int = 128,
            qat: FakeQuant | None = None) -> np.ndarray:
    """Evaluate ``tensor`` (default: the training head, e.g. the logits) over all samples."""
    model = GraphModel(g, trainable=[], qat=qat)
    tensor = tensor or find_head(g)[0]
    n = len(next(iter(feeds.values())))
    outs = [model.forward({k: v[i:i + batch_size] for k, v in feeds.items()}, until={tensor}).env[tensor]
            for i in range(0, n, batch_size)]
    return np.concatenate(outs)


def _check_masks(masks: dict, params: dict) -> dict:
    out = {}
    for k, m in masks.items():
        if k not in params:
            raise ValueError(f"mask for {k!r}, which is not a trainable tensor of the graph")
        m = np.asarray(m, bool)
        if m.shape != params[k].shape:
            raise ValueError(f"mask for {k!r} has shape {m.shape}, the tensor {params[k].shape}")
        out[k] = m
    return out


def finetune(g: Graph, data, labels=None, teacher: Graph | None = None, *, epochs: int = 1,
             batch_size: int = 32, lr: float = 0.001, schedule: str = "cosine", warmup: int = 0,
             momentum: float = 0.9, nesterov: bool = False, weight_decay: float = 0.0,
             clip_norm: float | None = None, optimizer: str = "sgd",
             masks: dict | None = None, sparsity_schedule=None, qat: bool = False, per_channel: bool = True,
             temperature: float = 4.0, alpha: float | None = None, task: str = "auto", bn: str = "batch",
             reestimate: bool = True, train_add: bool = False, precondition: bool = True, seed: int = 0,
             validate=None, progress: bool = False, log=None) -> Graph:
    """Fine-tune the float graph ``g`` on ``data`` and return a NEW graph (``g`` is not modified).

    data       one array (single-input graph) or a dict of arrays as in an .npz: {input: [N, ...]};
               a ``y`` key supplies ``labels`` when they are not given explicitly.
    labels     class indices [N] (classification) or target arrays (regression).  Autoencoders
               (output size == input size, no labels) reconstruct their input.
    teacher    float graph for knowledge distillation (usually the unpruned model).  Without labels
               and teacher, ``g`` itself (as given) is the teacher.
    alpha      weight of the label loss against the distillation loss (default 0.5 when both).
    masks      {tensor: bool array} (True = keep); weights and their gradients are masked after every
               step, so pruned weights stay exactly zero.
    sparsity_schedule  a ``sparsity.GradualPruning``: masks grow along a polynomial sparsity ramp.
    bn         BatchNorm nodes (graphs from ``batchnorm.import_unfolded``): "batch" (batch statistics
               while training, then re-estimated over ``data`` if ``reestimate``) or "frozen".
    qat        fake-quantize weights (per channel) and activations (EMA ranges) with a
               straight-through estimator; the graph must be BN-folded.  The learned activation
               ranges land in ``meta["qat_ranges"]`` for ``compile_model(ranges=...)``.
    schedule   "constant" | "step" | "cosine" | "polynomial" (``warmup`` steps of linear warmup).
    precondition  train FC / pointwise layers fed by a graph input in standardized input coordinates
               (``precondition.standardize``; not with qat); the returned graph is in the original ones.
    clip_norm  rescale the gradients when their global L2 norm exceeds this.
    validate   ``score(graph) -> float`` on held-out data, higher is better (``compress.validation``):
               scored before training and after every epoch; the best of these graphs is returned
               (early stopping / model selection), the scores land in ``meta["finetune"]["validation"]``.
    optimizer  "sgd" (momentum, ``nesterov``, ``weight_decay``) or "adam" (AdamW).  SGD's good
               learning rate depends on the model (kws_dscnn: 1e-3 trains, 5e-3 diverges; models fed
               raw 0..255 pixels need far less); Adam around 1e-4 works across the bench models.

    Deterministic for a given ``seed``.  ``meta["finetune"]`` records the loss before / after (over
    all of ``data``, in eval mode) and the mean training loss of every epoch.
    """
    t0 = time.perf_counter()
    feeds = batch_inputs(g, data)
    n = len(next(iter(feeds.values())))
    if labels is None and hasattr(data, "keys"):
        from ..data import labels as find_labels
        labels = find_labels({k: data[k] for k in data})
    if labels is not None and len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} samples")
    has_bn = any(bn_attr(x) for x in g.nodes)
    if qat and has_bn:
        from .batchnorm import fold
        if len(fold(g).nodes) < len(g.nodes):
            raise ValueError("QAT needs a BN-folded graph: re-estimate BN, run batchnorm.fold (or import "
                             "with compiler.import_model), then fine-tune with qat=True")
    bn_mode = bn if has_bn and not qat else "frozen"

    head, beta = find_head(g)
    task = _task(g, head, beta, labels, task)
    if task == "autoencoder":
        if labels is None:
            if len(g.inputs) != 1:
                raise ValueError("autoencoder target = input needs a single-input graph")
            labels = feeds[g.inputs[0]]
        task = "regress"
    if teacher is None and labels is None:
        teacher = g
    t_out = None
    if teacher is not None:
        t_out = predict(teacher, batch_inputs(teacher, data))
        if t_out.shape[1:] != tuple(g.tensors[head].shape[1:]) and t_out[0].size != g.tensors[head].size:
            raise ValueError(f"teacher output {t_out.shape[1:]} does not match {g.tensors[head].shape[1:]}")
    if labels is not None and t_out is not None:
        alpha = 0.5 if alpha is None else float(alpha)
    else:
        alpha = 1.0 if labels is not None else 0.0
    objective = Objective(task, alpha, temperature, 1.0 if beta is None else beta)

    stats, train_feeds = {}, feeds
    if precondition and not qat:
        g, train_feeds, stats = standardize(g, feeds)
    model = GraphModel(g, trainable_tensors(g, include_add=train_add), bn_mode=bn_mode)
    masks = _check_masks(masks or {}, model.params)
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    lr_at = make_schedule(schedule, lr, total, warmup=warmup)
    decay = [k for k in weight_tensors(g) if k in model.params]
    if optimizer == "sgd":
        opt = SGD(model.params, lr, momentum, nesterov, weight_decay, decay)
    elif optimizer == "adam":
        opt = Adam(model.params, lr, weight_decay=weight_decay, decay=decay)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r} (sgd or adam)")
    opt.apply_masks(masks)
    if sparsity_schedule is not None:
        sparsity_schedule.setup(total, [k for k in weight_tensors(g) if k in model.params])
    if qat:
        model.qat = FakeQuant.calibrate(model, {k: v[:256] for k, v in feeds.items()}, per_channel=per_channel)

    def batch_loss(tape, idx):
        lab = None if labels is None else np.asarray(labels)[idx]
        return objective(tape.env[head], lab, None if t_out is None else t_out[idx])

    def evaluate(m: GraphModel, feeds: dict) -> float:
        total_loss = 0.0
        for i in range(0, n, 128):
            idx = np.arange(i, min(i + 128, n))
            tape = m.forward({k: v[idx] for k, v in feeds.items()}, until={head})
            total_loss += batch_loss(tape, idx)[0] * len(idx)
        return total_loss / n

    def snapshot() -> Graph:
        out = unstandardize(model.to_graph(), stats)
        if qat:
            _on_grid(out, per_channel)
            out.meta["qat_ranges"] = model.qat.ranges()
        return reestimate_bn(out, feeds) if bn_mode == "batch" and reestimate else out

    loss_before = evaluate(model, train_feeds)
    best, scores, eligible = None, [], []       # eligible: the pruning schedule had finished
    if validate is not None:
        best = snapshot() if sparsity_schedule is None else None
        scores.append(float(validate(snapshot() if best is None else best)))
        eligible.append(best is not None)
    rng = np.random.default_rng(seed)
    history: list[float] = []
    bar = tqdm(total=total, desc="fine-tuning", unit="step", disable=not progress, leave=False)
    step = 0
    for epoch in range(epochs):
        order = rng.permutation(n)
        losses = []
        for i in range(0, n, batch_size):
            idx = np.sort(order[i:i + batch_size])
            if bn_mode == "batch" and len(idx) < 2:
                step += 1
                continue                        # batch statistics of one sample are meaningless
            if sparsity_schedule is not None and sparsity_schedule.due(step):
                masks = sparsity_schedule.update(step, model.params, masks)
                opt.apply_masks(masks)
            tape = model.forward({k: v[idx] for k, v in train_feeds.items()}, train=True, until={head})
            loss, dhead, _ = batch_loss(tape, idx)
            if not math.isfinite(loss):
                bar.close()
                raise FloatingPointError(f"fine-tuning diverged at step {step} (loss {loss}); lower the "
                                         "learning rate, try optimizer='adam' or clip_norm")
            grads = model.backward(tape, {head: dhead})
            for k, m in masks.items():
                if k in grads:
                    grads[k] = grads[k] * m
            if clip_norm:
                norm = math.sqrt(sum(float(np.vdot(v, v)) for v in grads.values()))
                if norm > clip_norm:
                    grads = {k: v * np.float32(clip_norm / norm) for k, v in grads.items()}
            opt.step(grads, lr_at(step))
            opt.apply_masks(masks)
            losses.append(loss)
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr_at(step - 1):.2e}")
        history.append(float(np.mean(losses)) if losses else float("nan"))
        if validate is not None:
            snap = snapshot()
            scores.append(float(validate(snap)))
            eligible.append(sparsity_schedule is None or step > sparsity_schedule.end)
            before = [v for v, e in zip(scores[:-1], eligible) if e]
            if eligible[-1] and scores[-1] > max(before, default=-math.inf):
                best = snap
        if log:
            log(f"epoch {epoch + 1}/{epochs}: mean training loss {history[-1]:.4f}"
                + (f", validation {scores[-1]:.4f}" if scores else ""))
    bar.close()

    out = best if best is not None else snapshot()
    after = GraphModel(out, trainable=[], qat=model.qat)
    out.meta["finetune"] = dict(epochs=epochs, steps=total, samples=n, task=task, alpha=alpha,
                                qat=bool(qat), bn=bn_mode if has_bn else None, seed=seed,
                                loss_before=loss_before, loss_after=evaluate(after, feeds), epoch_loss=history,
                                sparsity={k: float(1.0 - m.mean()) for k, m in masks.items()},
                                validation=scores, best_epoch=_best_epoch(scores, eligible, epochs),
                                seconds=time.perf_counter() - t0)
    return out


def _best_epoch(scores: list, eligible: list, epochs: int) -> int:
    ok = [i for i, e in enumerate(eligible) if e]
    return max(ok, key=lambda i: (scores[i], -i)) if ok else epochs


def _on_grid(g: Graph, per_channel: bool) -> None:
    """Store weights on their int8 grid (QAT): quantize then reproduces them exactly."""
    for node in g.nodes:
        for k, axis in REGISTRY[node.op].weights.items():
            t = g.tensors[node.inputs[k]]
            if t.is_const:
                q = fake_quant_weights(t.data, axis if per_channel else None)
                g.tensors[t.name] = dataclasses.replace(t, data=q)


def suggest_lr(g: Graph, data, labels=None, teacher: Graph | None = None, *, optimizer: str = "sgd",
               candidates=(1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6), steps: int = 8,
               batch_size: int = 32, seed: int = 0, **kw) -> float:
    """A learning rate for ``finetune``: the candidate whose short constant-rate run (``steps``
    steps on the first steps * batch_size samples) ends with the lowest loss on those samples.
    Costs len(candidates) * steps training steps.  ``kw`` goes to finetune (e.g. masks, task)."""
    feeds = batch_inputs(g, data)
    if labels is None and hasattr(data, "keys"):
        from ..data import labels as find_labels
        labels = find_labels({k: data[k] for k in data})
    n = min(len(next(iter(feeds.values()))), steps * batch_size)
    sub = {k: v[:n] for k, v in feeds.items()}
    lab = None if labels is None else np.asarray(labels)[:n]
    if teacher is None and lab is None:
        teacher = g
    best, best_loss = None, math.inf
    for lr in candidates:
        try:
            with np.errstate(all="ignore"):
                out = finetune(g, sub, lab, teacher, epochs=1, batch_size=batch_size, lr=lr,
                               schedule="constant", optimizer=optimizer, seed=seed, **kw)
        except FloatingPointError:
            continue
        loss = out.meta["finetune"]["loss_after"]
        if math.isfinite(loss) and loss < best_loss:
            best, best_loss = lr, loss
    if best is None:
        raise ValueError("every candidate learning rate diverged")
    return best
