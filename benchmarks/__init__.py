"""gitmoor and Flux side by side on the same control plane: see benchmarks/README.md."""
