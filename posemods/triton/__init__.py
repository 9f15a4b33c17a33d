"""Triton kernels and launchers, one module per op. Imported lazily, only when triton is installed."""
