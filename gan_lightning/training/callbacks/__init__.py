"""Callbacks of a training run: sample grids, checkpoint writing, divergence guard, RNG streams."""
