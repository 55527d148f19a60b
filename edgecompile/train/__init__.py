"""Training in NumPy: backward passes over the float IR, SGD, losses, fine-tuning, QAT.

Every op's backward is ``OpSpec.grad`` next to its ``ref_float``; ``autograd.GraphModel`` chains
them over a graph with the batch on axis 0.  ``finetune.finetune`` is the entry point.

Intended flow for pruning (the pruning criteria and sparse kernels live elsewhere):

    g  = batchnorm.import_unfolded("model.onnx")    # BN kept as tagged 1x1 depthwise nodes
    g0 = g                                          # the unpruned teacher
    masks = <prune g>                               # {weight tensor: bool keep-mask}
    g  = finetune(g, data, teacher=g0, masks=masks) # BN uses batch statistics while training,
                                                    # then its mean / var are re-estimated
    g  = batchnorm.fold(g)                          # fold BN into the convs (normal canonical form)
    masks = sparsity.masks_from_zeros(g)            # folding renamed the weights: masks from zeros
    g  = finetune(g, data, teacher=g0, masks=masks, qat=True)   # optional: int8-aware recovery
    compile_model(..., float_graph=g, ranges=g.meta.get("qat_ranges"))

Models imported with ``compiler.import_model`` are already folded; they fine-tune the same way
(without BN handling).  ``sparsity.GradualPruning`` grows the masks during fine-tuning instead of
pruning once up front.
"""
from .autograd import GraphModel, batch_inputs, trainable_tensors, weight_tensors
from .batchnorm import fold, import_unfolded, reestimate_bn
from .finetune import finetune, predict, suggest_lr
from .losses import Objective, distillation, find_head, mse, softmax_cross_entropy
from .optim import SGD, Adam, make_schedule
from .qat import FakeQuant
from .sparsity import GradualPruning, magnitude_masks, masks_from_zeros, polynomial_sparsity

__all__ = [
    "Adam", "FakeQuant", "GradualPruning", "GraphModel", "Objective", "SGD", "batch_inputs", "distillation",
    "find_head", "finetune", "fold", "import_unfolded", "magnitude_masks", "make_schedule",
    "masks_from_zeros", "mse", "polynomial_sparsity", "predict", "reestimate_bn", "softmax_cross_entropy",
    "suggest_lr", "trainable_tensors", "weight_tensors",
]
