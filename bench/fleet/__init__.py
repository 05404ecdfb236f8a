"""One sweep across a fleet of devices on Dask distributed (docs/fleet.md).

`resources.py` names targets, `worker.py` is what a worker runs for one cell, `driver.py` submits a
grid and stores what comes back (the only writer), `local.py` starts a loopback cluster. Nothing here
imports dask at module level except `driver.py`, `local.py` and `serve.py`, which only the fleet
commands import.
"""
