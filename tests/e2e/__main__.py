"""`python -m tests.e2e`: what scripts/e2e runs."""

import sys

from tests.e2e.runner import main

sys.exit(main())
