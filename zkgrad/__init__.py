"""zkgrad: zero-knowledge proven training steps and inference for PyTorch models."""

__version__ = "0.1.0"
