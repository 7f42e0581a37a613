"""`python -m annotator.cli` runs the command line (as `python -m annotator` does)."""

from . import main

main()
