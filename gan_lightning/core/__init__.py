"""Layer core: the papers' networks (nets/), losses and augmentation, in plain torch."""
