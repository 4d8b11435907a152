"""`python -m dms` runs the CLI."""
from dms.cli import main

main()
