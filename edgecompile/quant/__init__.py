"""Quantization arithmetic (fixedpoint), range estimation (calibrate) and weight quantization."""
