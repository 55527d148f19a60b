"""The canonicalization pipeline run right after ONNX import, as one literal list.

fold_reshape runs twice: first to clean up the import's layout reshapes so fold_pad, fold_bn and
fuse_activation see producer -> consumer directly, then to merge the reshape pairs the folds
leave behind (e.g. around a folded 1-D BatchNorm or a fused activation of a 1-D conv).
"""
from .fold_bn import fold_bn
from .fold_pad import fold_pad
from .fold_reshape import fold_reshape
from .fuse_activation import fuse_activation

CANONICALIZE = [fold_reshape, fold_pad, fold_bn, fuse_activation, fold_reshape]
