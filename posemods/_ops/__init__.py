"""torch.library custom ops wrapping the Triton kernels (fake impls and autograd included)."""
