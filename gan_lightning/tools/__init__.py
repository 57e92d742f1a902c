"""User commands beside LightningCLI's fit/validate/test/predict; each module has add_arguments() and run()."""
