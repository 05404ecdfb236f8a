"""Errors the CLI turns into one line on stderr and an exit status."""

# Defined beside the devices (which may not import bench), so device errors are BenchErrors too.
from devices.errors import UserError as BenchError  # noqa: F401
