"""numba kernels: activations, losses, network passes, optimizer updates."""
