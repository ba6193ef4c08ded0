"""Run the command line as ``python -m alftc``."""

from alftc.cli import main

main()
