"""`python -m bench`: the `bench` console script (used by `--repeat` to start fresh processes)."""
from bench.cli import main

raise SystemExit(main())
