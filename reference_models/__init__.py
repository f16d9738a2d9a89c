"""Locked reference models (ONNX + lock + model card) and the recipes that trained them."""
