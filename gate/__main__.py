"""`python -m gate` runs the CLI."""

from gate.process import leave, start

start()  # before the CLI's imports: they are part of the run

from gate.cli import main  # noqa: E402

leave(main())
