"""The commands besides fit/validate/test/predict, one module each, named in main.py's
``COMMAND_MODULES``. Each module defines ``main(argv: list[str]) -> None``: it parses its own options
(its docstring is the ``--help`` description) and runs, raising UserError for bad input."""
