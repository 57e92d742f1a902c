"""The inference and data commands, one module each (fit/validate/test/predict go through LightningCLI)."""
