"""Layer cli: ``python -m gan_lightning <command>`` (dispatch in main.py, one module per command in commands/)."""
