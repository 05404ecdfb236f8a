"""Per-op profile of an ExecuTorch .pte on this host: ETDump events read with the devtools Inspector.

The program is lowered as `bench run --device mobile` lowers it (XNNPACK delegate), loaded with
event tracing on (`enable_etdump`), run `iterations` times after `skip` unrecorded-for-medians
ones, and its ETDump is read back. Rows are the XNNPACK operators inside the delegate (where the
runtime exposes them, as the pip build does: "Convolution (NHWC, F32) IGEMM #3") and the
non-delegated operators; the delegate calls themselves are containers, so what they take beyond
their operators is one "(delegate overhead)" row, and Method::execute (the whole pass) gives the
profiled iteration time, hence the overhead against the timing core's p50. The XNNPACK
convolution / fully-connected ops get their layer, MACs and bytes from the exported graph's MAC
nodes in order (`pte_layers`, checked by count and kind; the summary's `op_mapping` says what was
mapped or why not); the other ops have no MACs and no byte count. The model's MACs come from
`bench costs`' counting. A runtime built without event tracing gives `unsupported` with the reason.
Over adb (`--adb-runner`) there is no ETDump yet: executor_runner would need event tracing built in.
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from statistics import median
from typing import Any

import torch
import torch.nn as nn

from devices.base import Device, UnsupportedCell

_KINDS = (("convolution", "conv"), ("fully connected", "linear"), ("add", "add"), ("multiply", "mul"),
          ("clamp", "activation"), ("hardswish", "activation"), ("sigmoid", "activation"), ("pooling", "pool"),
          ("mean", "pool"), ("transpose", "layout"), ("copy", "copy"), ("concatenate", "concat"),
          ("slice", "slice"), ("native_call", "operator"))


def event_kind(name: str) -> str:
    """An op kind from an ETDump event name ('Convolution (NHWC, F32) IGEMM #3' -> 'conv')."""
    low = name.lower()
    for needle, kind in _KINDS:
        if needle in low:
            return kind
    return low.split(" ")[0]


def etdump_frame(pte: bytes, example: torch.Tensor, runs: int):
    """Run the .pte `runs` times with event tracing and return the Inspector's DataFrame."""
    from executorch.devtools import Inspector
    from executorch.extension.pybindings import portable_lib

    with tempfile.TemporaryDirectory(prefix="zoobench-etdump-") as tmp:
        path = Path(tmp) / "run.etdp"
        try:
            module = portable_lib._load_for_executorch_from_buffer(pte, enable_etdump=True)
            for _ in range(runs):
                module.forward((example,))
            module.write_etdump_result_to_file(str(path))
        except Exception as exc:  # noqa: BLE001 - a runtime without event tracing cannot profile
            raise UnsupportedCell(f"ExecuTorch ETDump unavailable: {type(exc).__name__}: {exc}"[:300]) from None
        if not path.exists() or path.stat().st_size == 0:
            raise UnsupportedCell("ExecuTorch wrote no ETDump (runtime built without event tracing)")
        with warnings.catch_warnings():  # "Output Buffer not found": we ask for times, not tensor values
            warnings.simplefilter("ignore", UserWarning)
            return Inspector(etdump_path=str(path)).to_dataframe()


def profile_pte(model: nn.Module, example: torch.Tensor, device: Device, *, name: str, threads: int | None,
                iterations: int, timing: dict[str, Any] | None, skip: int = 2, ceilings=None):
    """Profile `model` on the host ExecuTorch runtime (see module docstring); returns a ProfileResult.

    With `ceilings` (the XNNPACK runtime's, `bench ceilings --device mobile`) the mapped MAC ops get
    their roofline floor; the model's floor is the sum over them (the other ops have no MACs and
    no byte count, so no floor: it is a floor of the convolutions and matmuls only)."""
    from bench.costs import count_module
    from bench.profiling.profile import ProfileResult
    from bench.timing import measure
    from devices.mobile import export_pte

    if getattr(device, "adb_runner", None) is not None:
        raise UnsupportedCell("no ETDump over adb yet: executor_runner must be built with event tracing")
    prepared = device.prepare(model, example, threads=threads)
    try:
        m = measure(prepared, timer=device.timer(), **(timing or {}))
        info = dict(prepared.info)
        frame = etdump_frame(export_pte(model, example), example, iterations + skip)
    finally:
        prepared.close()
        device.cleanup()
    frame = frame[frame["event_block_name"] == "Execute"]
    rows, delegate_ms, execute_ms = [], 0.0, None
    for rec in frame.to_dict("records"):
        ms = median(rec["raw"][skip:]) if len(rec["raw"]) > skip else median(rec["raw"])
        if rec["event_name"] == "DELEGATE_CALL":
            delegate_ms += ms
        elif rec["event_name"] == "Method::execute":  # the whole pass: the profiled iteration's time
            execute_ms = ms
        elif rec["event_name"] != "OPERATOR_CALL":  # a container of the native op that follows it
            rows.append(dict(layer=rec["event_name"], kind=event_kind(rec["event_name"]), ms=ms,
                             delegated=bool(rec.get("is_delegated_op"))))
    per_op = any(r["delegated"] for r in rows)
    mapped, mapping = 0, "the runtime exposes delegate calls only: no per-op MACs/bytes"
    if per_op:
        from bench.profiling.pte_layers import attach_macs, mac_nodes

        mapped, mapping = attach_macs(rows, mac_nodes(model, example))
        inside = sum(r["ms"] for r in rows if r["delegated"])
        rows.append(dict(layer="(delegate overhead)", kind="dispatch", ms=max(delegate_ms - inside, 0.0)))
    else:
        rows.append(dict(layer="(delegate calls)", kind="delegate", ms=delegate_ms))
    total = sum(r["ms"] for r in rows) or float("nan")
    for r in rows:
        r["pct"] = 100 * r["ms"] / total
        if r.get("macs") and r.get("bytes"):  # mapped MAC ops only
            r["gflops"] = 2 * r["macs"] / (r["ms"] * 1e6) if r["ms"] > 0 else None
            r["intensity"] = 2 * r["macs"] / r["bytes"]
            if ceilings is not None:
                r["floor_ms"] = max(2 * r["macs"] / (ceilings.peak_gflops * 1e9),
                                    r["bytes"] / (ceilings.bandwidth_gbs * 1e9)) * 1e3
                r["pct_floor"] = 100 * r["floor_ms"] / r["ms"] if r["ms"] > 0 else None
    floors = [r["floor_ms"] for r in rows if r.get("floor_ms") is not None]
    floor = sum(floors) if floors else None
    p50 = m.stats.p50_ms
    summary = dict(batch=int(example.shape[0]), dtype="fp32", threads=info.get("threads"), e2e_p50_ms=p50,
                   e2e_samples=m.stats.samples, layers_ms=sum(r["ms"] for r in rows),
                   coverage=sum(r["ms"] for r in rows) / p50, profiled_iter_ms=execute_ms,
                   profiler_overhead=execute_ms / p50 - 1 if execute_ms else None,
                   unattributed_ms=None, iterations=iterations, layers=len(rows),
                   macs=count_module(model, example)["macs"], bytes=None, floor_ms=floor,
                   pct_floor=100 * floor / p50 if floor is not None else None,
                   peak_gflops=ceilings.peak_gflops if ceilings else None,
                   bandwidth_gbs=ceilings.bandwidth_gbs if ceilings else None, mapped_ops=mapped, op_mapping=mapping,
                   mapped_macs=sum(r.get("macs") or 0 for r in rows),
                   profiler="ExecuTorch ETDump + devtools Inspector" + (
                       ", XNNPACK per-op events" if per_op else "; the runtime exposes delegate calls only"))
    return ProfileResult(model=name, layers=rows, summary=summary)
