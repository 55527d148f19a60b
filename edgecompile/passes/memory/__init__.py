"""Memory planning pieces used by passes/plan_memory.py: overlap.py (which node may write over its
dying input, and the safe offset), order.py (execution order), place.py (offsets, lower bounds),
bands.py (patch-based execution of a chain of layers in row bands), verify.py (an independent check
of a finished plan)."""
from .verify import check_plan  # noqa: F401
