"""Model compression before quantization: pruning (unstructured and structured), sensitivity
analysis, fine-tuning and the accuracy-vs-size sweep."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import OptionError
from ..ir import Graph

SCOPES = ("global", "layer", "sensitivity")


def _check(v, what: str, hi: float = 1.0) -> None:
    if v is not None and not (isinstance(v, (int, float)) and 0.0 <= float(v) < hi):
        raise OptionError(f"{what} must be a fraction in [0, 1), got {v!r}")


def compress(model, *, prune: float | None = None, prune_scope: str = "global", prune_budget: float | None = None,
             prune_channels=None,
             importance: str = "l1", data: dict | None = None, labels=None, calib: dict | None = None,
             epochs: int | None = None, distill: bool = False, lr: float | None = None, optimizer: str = "adam",
             batch_size: int = 32, seed: int = 0, validation: dict | None = None, progress: bool = False,
             log=None) -> Graph:
    """A compressed float graph (BN folded, canonical) for ``compile_model(float_graph=...)``.

    model        ONNX path / ModelProto (imported with BatchNorm kept while pruning and fine-tuning)
                 or an already imported float Graph
    prune        fraction of the weights to zero (unstructured magnitude pruning); with fine-tuning
                 data the masks grow gradually over the first 60% of the steps
    prune_scope  "global" (one magnitude threshold), "layer" (same fraction per layer) or
                 "sensitivity" (per-layer fractions from compress.sensitivity on data / calib)
    prune_budget instead of a sparsity: prune each layer as far as its own pruning costs at most this
                 much score (accuracy, or agreement with the unpruned model) on data / calib
    prune_channels  fraction of each layer's output channels to remove (structured surgery), or one
                 fraction per prunable layer in node order (a sequence) or by node name (a dict); then a
                 least-squares refit of the FC / pointwise layers on data or calib (prune_channels.reconstruct)
    importance   channel importance: "l1" | "l2" | "activation" | "lsq" (greedy least-squares selection
                 layer by layer, prune_channels.select_lsq)
    data, labels fine-tuning samples {input: [N, ...]} and optional labels (else: autoencoders
                 reconstruct their input, classifiers distil from the unpruned model)
    calib        samples for BN re-estimation / activation importance when ``data`` is None
    distill      also distil from the unpruned float model when labels are given; an autoencoder
                 without labels then imitates the unpruned model's outputs only (no reconstruction loss)
    validation   held-out arrays as in an .npz (inputs, labels ``y``, optional ``group``; see
                 compress.validation): fine-tuning keeps the epoch (0 = the pruned start) that scores
                 best on them; ``meta["validation"]`` holds the metric and the unpruned / chosen scores
    """
    from .. import train
    from ..passes import PassContext
    from ..passes.prune import apply_masks, global_masks, magnitude_masks
    from ..passes.prune_channels import prune_channels as channels_pass
    from ..train.autograd import bn_attr
    _check(prune, "--prune sparsity")
    prune_channels, channel_ratios = (None, prune_channels) if isinstance(prune_channels, (dict, list, tuple)) \
        else (prune_channels, None)
    _check(prune_channels, "--prune-channels fraction")
    if prune_budget is not None and (prune is not None or not 0.0 <= prune_budget <= 1.0):
        raise OptionError("--prune-budget is a score drop in [0, 1] and replaces --prune SPARSITY")
    if prune_scope not in SCOPES:
        raise OptionError(f"unknown pruning scope {prune_scope!r} (choose from {', '.join(SCOPES)})")
    if epochs is not None and epochs < 0:
        raise OptionError(f"--epochs must be >= 0, got {epochs}")
    tune = data is not None and (epochs is None or epochs > 0)
    epochs = 0 if not tune else (epochs or 10)
    if isinstance(model, Graph):
        g = model
    else:       # BatchNorm kept apart while pruning / fine-tuning (when the model has any)
        from ..compiler import import_model
        g = import_model(model)
        if tune or prune_channels or channel_ratios:
            gu = train.import_unfolded(model)
            if any(bn_attr(n) for n in gu.nodes):
                g = dataclasses.replace(gu, meta={**g.meta, **gu.meta})
    teacher = g
    validate, val_meta = None, {}
    if validation is not None:
        from .validation import scorer
        metric, validate = scorer(g, *_validation_arrays(g, validation))
        val_meta = dict(metric=metric, unpruned=validate(g))
    samples = data if data is not None else calib
    sub = None if samples is None else _spread(samples, 512)
    if channel_ratios is not None:
        channel_ratios = _layer_ratios(g, channel_ratios)
    if prune_channels or channel_ratios:
        ctx = PassContext(options={"prune_channels": dict(
            fraction=prune_channels, ratios=channel_ratios, importance=importance,
            data=_spread(samples, 20000) if importance == "lsq" and samples is not None else sub)})
        g = channels_pass(g, ctx)
        if samples is not None:
            from ..passes.prune_channels import reconstruct
            g = reconstruct(g, teacher, _spread(samples, 20000))
    sched, ratios = None, None
    if prune_budget is not None or (prune and prune_scope == "sensitivity"):
        if samples is None:
            raise OptionError("sensitivity-based pruning needs data (--finetune or --calib)")
        from .sensitivity import ratios_for_target, ratios_under_budget, scorer, sensitivity
        idx = _spread_index(len(next(iter(samples.values()))), 500)
        lab = None if labels is None or data is None else np.asarray(labels)[idx]
        base, sens = sensitivity(g, scorer(g, {k: np.asarray(v)[idx] for k, v in samples.items()}, lab))
        sizes = {k: g.tensors[k].size for k in sens}
        ratios = ratios_under_budget(base, sens, prune_budget) if prune_budget is not None else \
            ratios_for_target(base, sens, sizes, prune)
        prune = sum(ratios[k] * sizes[k] for k in sens) / max(sum(sizes.values()), 1) or None
        g.meta["prune_ratios"] = ratios
    if prune:
        if tune:
            def prune_fn(w, s, masks):
                if ratios is not None:
                    return {k: magnitude_masks(_view(w), ratios={k: ratios[k] * s / prune}, tensors=[])[k] for k in w}
                if prune_scope == "global":
                    return global_masks(w, s, masks)
                return train.magnitude_masks(w, s, masks)
            sched = train.GradualPruning(prune, begin=0.0, end=0.6, prune_fn=prune_fn)
        else:
            g = apply_masks(g, magnitude_masks(g, prune, scope="global" if prune_scope == "global" else "layer",
                                               ratios=ratios))
    if tune:
        head, beta = train.find_head(g)
        autoencoder = beta is None and len(g.inputs) == 1 and g.tensors[g.inputs[0]].size == g.tensors[head].size
        use_teacher = distill or (labels is None and not autoencoder)
        pure = distill and autoencoder and labels is None    # imitate the teacher's reconstruction only
        g = train.finetune(g, data, labels, teacher=teacher if use_teacher else None, alpha=0.0 if pure else None,
                           epochs=epochs, batch_size=batch_size, lr=lr or 1e-3, optimizer=optimizer,
                           masks=train.masks_from_zeros(g) if sched is None and g.meta.get("prune_masks") else None,
                           sparsity_schedule=sched, seed=seed, validate=validate, progress=progress, log=log)
    elif (prune_channels or channel_ratios) and sub is not None and any(bn_attr(n) for n in g.nodes):
        g = train.reestimate_bn(g, sub)
    if any(bn_attr(n) for n in g.nodes):
        meta = dict(g.meta)
        g = train.fold(g)
        g.meta = {**meta, **g.meta}
    if prune:
        g.meta["prune_masks"] = train.masks_from_zeros(g)    # folding renamed the weights
    if validate is not None:
        g.meta["validation"] = dict(val_meta, compressed=validate(g))
    return g


def _validation_arrays(g: Graph, arrays: dict) -> tuple:
    """(inputs, labels, groups) of validation arrays keyed as in an .npz."""
    from .. import data as D
    from .validation import GROUP_KEYS
    groups = next((np.asarray(arrays[k]) for k in GROUP_KEYS if k in arrays), None)
    inputs = D.input_arrays(g, {k: v for k, v in arrays.items() if k not in GROUP_KEYS}, "validation data")
    return inputs, D.labels(arrays), groups


def _layer_ratios(g: Graph, ratios) -> dict:
    """{node name: fraction} from a dict or from one fraction per prunable layer in node order."""
    from ..passes.prune_channels import PINNED, analyze
    ids, _, spaces = analyze(g)
    layers = [m for m, sp in spaces.items() if any(ids.find(int(a)) != PINNED for a in sp)]
    if not isinstance(ratios, dict):
        if len(ratios) != len(layers):
            raise OptionError(f"--prune-channels: {len(ratios)} fractions for {len(layers)} prunable layers "
                              f"({', '.join(layers)})")
        ratios = dict(zip(layers, ratios))
    for k, v in ratios.items():
        if k not in spaces:
            raise OptionError(f"--prune-channels: no prunable layer named {k!r}")
        _check(float(v), f"--prune-channels fraction for {k}")
    return {k: float(v) for k, v in ratios.items()}


def _view(weights: dict) -> Graph:
    """A throwaway graph holding ``weights`` as constants (to reuse the graph-level pruning helpers)."""
    from ..ir import Tensor
    return Graph("w", {k: Tensor(k, np.shape(v), data=np.asarray(v)) for k, v in weights.items()}, [], [], [])


def _spread_index(size: int, n: int) -> np.ndarray:
    """At most n indices, evenly spaced over ``size`` samples (data is often ordered by recording)."""
    return np.unique(np.linspace(0, size - 1, min(n, size)).astype(int))


def _spread(samples: dict, n: int) -> dict:
    idx = _spread_index(len(next(iter(samples.values()))), n)
    return {k: np.asarray(v)[idx] for k, v in samples.items()}
