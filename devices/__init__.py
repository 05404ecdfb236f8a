"""Measurement targets: one module per target behind the protocol in `devices.base`.

`devices` imports `zoo` at most, never `bench`. To add a target (TensorRT, ONNX Runtime, ...):

1. write `devices/<target>.py` with a `Device` subclass: `name`, `available`, `fingerprint`
   (host facts from `devices.host` plus its own), `prepare` / `cleanup` (restore any process-wide
   setting `prepare` changed), and, where the defaults do not fit, `label` / `provenance` (how
   stored results are named in tables and reports), `add_options` / `from_options` /
   `recorded_options` (its own `bench run` options) and `extra_hetconv_impls`;
2. add one `register_device(...)` line in `devices/registry.py`;

plus its tests. `bench run`, `bench report` and the store pick it up from the registry. Import the
target's own libraries inside its methods, not at module level: `bench run` loads every
registered module to collect their options, also on machines without those libraries.
"""
