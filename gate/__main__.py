"""`python -m gate` runs the CLI."""

import sys

from gate.cli import main

sys.exit(main())
