"""`python -m dms` runs the CLI."""
from .cli import main

main()
