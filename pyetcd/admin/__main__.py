import sys

from pyetcd.admin.cli import main

sys.exit(main())
