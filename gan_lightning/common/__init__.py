"""Layer common: what every other layer uses (errors, image conversions, sampling, tiling, outputs, video)."""
