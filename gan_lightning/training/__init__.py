"""Layer training: the LightningModules (models/), their callbacks, fine-tuning and the DDP strategy."""
