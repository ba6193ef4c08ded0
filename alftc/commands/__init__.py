"""Subcommands of the ``alftc`` command line, one module each."""
