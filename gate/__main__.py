"""`python -m gate` runs the CLI."""

from gate.cli import main
from gate.process import leave

leave(main())
