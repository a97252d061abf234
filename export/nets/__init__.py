"""PyTorch re-implementations of the networks facert runs."""
