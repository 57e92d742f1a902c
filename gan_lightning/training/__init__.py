"""Layer training: the LightningModules (models/), the parts their base GANModule is made of (progress,
compilation, precision, data_parallel, checkpoint_hooks), their callbacks, fine-tuning and the DDP strategy."""
