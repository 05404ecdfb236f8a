"""Device lookup by name. Adding a target is its module plus one `register_device` line below.

Entries are imported lazily ("module:Class"), so a target whose libraries are missing costs
nothing until it is asked for. Stored results of a target that is not registered here (an
imported database from a newer or extended zoobench) are labelled generically, never an error.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from devices.errors import DeviceError

if TYPE_CHECKING:  # devices.base imports torch; the registry stays light until a device is loaded
    from devices.base import Device


@dataclass(frozen=True)
class _Entry:
    name: str
    target: str | type[Device]  # "package.module:ClassName" or the class itself
    aliases: tuple[str, ...] = ()


_ENTRIES: dict[str, _Entry] = {}
_ALIASES: dict[str, str] = {}


@lru_cache(maxsize=None)
def _load(key: str) -> type[Device]:
    target = _ENTRIES[key].target
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
    if target.name != key:
        raise ValueError(f"device class {target.__qualname__} has name '{target.name}', registered as '{key}'")
    return target


def register_device(name: str, target: str | type[Device], *, aliases: tuple[str, ...] = ()) -> None:
    """Register a device class under `name` (and `aliases`): `target` is the class or "module:Class".

    The class's `name` must equal `name` (checked when it is loaded). Registering a taken name or
    alias raises ValueError.
    """
    key = name.lower()
    taken = set(_ENTRIES) | set(_ALIASES)
    for n in (key, *(a.lower() for a in aliases)):
        if n in taken:
            raise ValueError(f"device name '{n}' is already registered")
    _ENTRIES[key] = _Entry(key, target, tuple(a.lower() for a in aliases))
    for alias in aliases:
        _ALIASES[alias.lower()] = key
    _load.cache_clear()


def unregister_device(name: str) -> None:
    """Remove a registered device and its aliases (for tests and plugins that registered one)."""
    entry = _ENTRIES.pop(name.lower())
    for alias in entry.aliases:
        _ALIASES.pop(alias, None)
    _load.cache_clear()


# The built-in targets: one line each.
register_device("cpu", "devices.cpu:CpuDevice")
register_device("cuda", "devices.cuda:CudaDevice")
register_device("mobile", "devices.mobile:MobileDevice", aliases=("arm",))


def device_names() -> tuple[str, ...]:
    """Registered device names, then aliases ('cpu', 'cuda', 'mobile', 'arm')."""
    return tuple(_ENTRIES) + tuple(_ALIASES)


def aliases() -> dict[str, str]:
    """Alias -> registered name ({'arm': 'mobile'})."""
    return dict(_ALIASES)


def canonical_name(name: str) -> str:
    """'arm' -> 'mobile'; unknown names raise DeviceError (exit 2 on the CLI)."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in _ENTRIES:
        raise DeviceError(f"unknown device '{name}'; choose from {', '.join(device_names())}")
    return key


def device_class(name: str) -> type[Device]:
    """The registered class for `name` (or an alias); DeviceError when unknown."""
    return _load(canonical_name(name))


def device_classes() -> dict[str, type[Device]]:
    """Every registered device class by name (imports each device module)."""
    return {key: _load(key) for key in _ENTRIES}


@lru_cache(maxsize=64)
def _unknown(name: str) -> type[Device]:
    """A stand-in class for a stored target this installation does not register: generic text only."""
    from devices.base import Device

    class UnknownTarget(Device):
        def available(self) -> tuple[bool, str]:
            """Never runnable here."""
            return False, f"target '{self.name}' is not registered in this installation"

        def fingerprint(self, threads: int | None = None) -> dict[str, Any]:
            """Unused: unknown targets only label stored results."""
            raise NotImplementedError

        def prepare(self, model, example, *, dtype="fp32", layout="nchw", threads=None, compile=False):
            """Unused: unknown targets only label stored results."""
            raise NotImplementedError

    UnknownTarget.name = name
    return UnknownTarget


def describer(target: str) -> type[Device]:
    """The class whose `label` / `provenance` describe stored results of `target`.

    The registered class when there is one; otherwise a generic stand-in (host CPU and
    architecture), so an imported database with an unknown target still reports.
    """
    key = _ALIASES.get(str(target).lower(), str(target).lower())
    return _load(key) if key in _ENTRIES else _unknown(str(target))


def machine_label(target: str, fp: dict[str, Any]) -> str:
    """Short label of what ran where for a stored fingerprint of `target` (see `Device.label`)."""
    return describer(target).label(fp)


def get_device(name: str, *, check_available: bool = True, **options: Any) -> Device:
    """The Device for `name`; DeviceError (exit 2) when unknown or, if checked, unavailable here.

    `options` go to the device class's constructor (cuda: cuda_graph; mobile: adb_runner).
    """
    device = device_class(name)(**options)
    return checked(device, name) if check_available else device


def checked(device: Device, requested: str | None = None) -> Device:
    """`device` itself when it can run here, else DeviceError naming the reason."""
    ok, reason = device.available()
    if not ok:
        raise DeviceError(f"device '{requested or device.name}' is not available: {reason}")
    return device
