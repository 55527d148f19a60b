"""edgecompile: trained ONNX models -> bit-exact int8 C for Arm Cortex-M."""
__version__ = "0.1.0"
