"""Device lookup by name: cpu, cuda, mobile (alias arm)."""
from __future__ import annotations

from typing import Any, Callable

from bench.errors import BenchError
from devices.base import Device

ALIASES = {"arm": "mobile"}


def _cpu(**_: Any) -> Device:
    from devices.cpu import CpuDevice

    return CpuDevice()


def _cuda(cuda_graph: bool = False, **_: Any) -> Device:
    from devices.cuda import CudaDevice

    return CudaDevice(cuda_graph=cuda_graph)


def _mobile(adb_runner=None, **_: Any) -> Device:
    from devices.mobile import MobileDevice

    return MobileDevice(adb_runner=adb_runner)


FACTORIES: dict[str, Callable[..., Device]] = {"cpu": _cpu, "cuda": _cuda, "mobile": _mobile}
DEVICE_NAMES = tuple(FACTORIES) + tuple(ALIASES)


def canonical_name(name: str) -> str:
    """'arm' -> 'mobile'; unknown names raise BenchError."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in FACTORIES:
        raise BenchError(f"unknown device '{name}'; choose from {', '.join(DEVICE_NAMES)}")
    return key


def get_device(name: str, *, check_available: bool = True, **options: Any) -> Device:
    """The Device for `name`; BenchError (exit 2) when unknown or, if checked, unavailable here.

    `options` go to the device (cuda: cuda_graph; mobile: adb_runner).
    """
    device = FACTORIES[canonical_name(name)](**options)
    if check_available:
        ok, reason = device.available()
        if not ok:
            raise BenchError(f"device '{name}' is not available: {reason}")
    return device
