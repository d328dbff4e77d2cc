"""Circuits: ONNX export, ezkl compilation, SRS handling and circuit artifacts."""
