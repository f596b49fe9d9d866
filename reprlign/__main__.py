"""``python -m reprlign``: the command line (see ``python -m reprlign --help``)."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
