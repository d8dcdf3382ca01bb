"""Quantized cell-density measures (placeholder module: being written)."""
