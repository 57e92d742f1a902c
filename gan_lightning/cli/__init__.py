"""Layer cli: ``python -m gan_lightning <command>`` (dispatch in main.py, fit/validate/test/predict in
lightning_cli.py, one module per other command in commands/)."""
