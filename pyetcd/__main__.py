"""`python -m pyetcd`: the same as the `pyetcd` console script."""

import sys

from pyetcd.cli import main

sys.exit(main())
