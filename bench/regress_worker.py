"""The measuring process of `bench regress`: runs one revision's models on request.

`bench regress` starts one worker per revision, inside that revision's source tree (its
directory first on the import path), and alternates short bursts of calls between the two
so that whatever the machine does meanwhile hits both revisions alike. This file is run by
path from the *current* tree (`runpy.run_path`), so it imports nothing of zoobench at module
level: `zoo`, `devices` and `bench.runner` are imported when needed and resolve to the
revision under test. It relies only on APIs that every revision with `bench run` has:
`zoo.registry.get_model`, `zoo.layers.reparam.deploy_form`, `bench.runner.example_batch`,
`devices.registry.get_device` with `fingerprint`, `prepare` and `timer`.

Protocol: one JSON object per line. Requests on stdin, replies on stdout (anything the
libraries print goes to stderr):

- on start the worker sends `{"ready": true, "fingerprint": {...}}` (or `{"ready": false, "error": ...}`);
- `{"cmd": "prepare", "model", "batch", "dtype", "layout", "impl", "threads", "compile"}` ->
  `{"ok": true, "impl": ...}` or `{"ok": false, "status": "unsupported" | "error", "message": ...}`;
- `{"cmd": "run", "n": N}` -> `{"ms": [N latencies]}` (the prepared model, timed by the device's timer);
- `{"cmd": "quit"}` -> the process exits.
"""
from __future__ import annotations

import json
import sys
from typing import Any, TextIO


class _Worker:
    """State of one worker: its device and the currently prepared model."""

    def __init__(self, device_name: str, threads: int | None) -> None:
        from devices.registry import get_device

        self.device = get_device(device_name)
        self.threads = threads
        self.timer = self.device.timer()
        self.prepared = None

    def fingerprint(self) -> dict[str, Any]:
        """The device's fingerprint as this revision records it."""
        return self.device.fingerprint(threads=self.threads)

    def prepare(self, req: dict[str, Any]) -> dict[str, Any]:
        """Build the deploy form of the requested cell and prepare it on the device."""
        import gc

        import zoo  # noqa: F401 - registers every family of this revision
        from bench.runner import example_batch
        from devices.base import UnsupportedCell
        from zoo.layers.reparam import deploy_form
        from zoo.registry import get_model

        if self.prepared is not None:
            self.prepared.close()
            self.prepared = None
            gc.collect()
            self.device.cleanup()
        try:
            _register_source(req)
            model = deploy_form(get_model(req["model"]), impl=req.get("impl"), inplace=True)
            self.prepared = self.device.prepare(model, example_batch(req["model"], int(req["batch"])),
                                                dtype=req.get("dtype", "fp32"), layout=req.get("layout", "nchw"),
                                                threads=req.get("threads"), compile=bool(req.get("compile")))
        except (UnsupportedCell, ValueError) as exc:
            return {"ok": False, "status": "unsupported", "message": _one_line(exc)}
        except Exception as exc:  # noqa: BLE001 - any failure is the cell's result, as in `bench run`
            return {"ok": False, "status": "oom" if self.device.is_oom(exc) else "error", "message": _one_line(exc)}
        return {"ok": True, "impl": _impls(model)}

    def run(self, n: int) -> dict[str, Any]:
        """Time `n` calls of the prepared model."""
        if self.prepared is None:
            return {"error": "nothing prepared"}
        return {"ms": [self.timer(self.prepared.run) for _ in range(n)]}


def _register_source(req: dict[str, Any]) -> None:
    """Register a model source (`timm:`, `tv:`, `PATH.py:NAME`, `PATH.pt2`) in this revision, where it
    has `zoo.sources`: a relative `PATH.py` then names this revision's copy of the file, which is what
    gating a change to one's own model needs. Older revisions have no sources: `get_model` then
    reports the name as unknown and the cell is not comparable."""
    try:
        from zoo.sources import is_source_spec, resolve_source
    except ImportError:
        return
    if is_source_spec(req["model"]):
        resolve_source(req["model"], input_size=req.get("input_size"))


def _impls(model) -> str | None:
    try:
        from zoo.layers.hetconv import hetconv_impls_in
    except ImportError:
        return None
    return ",".join(sorted(hetconv_impls_in(model))) or None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def serve(device_name: str, threads: int | None, requests: TextIO, replies: TextIO) -> None:
    """Answer requests until 'quit' or end of input."""
    def send(obj: dict[str, Any]) -> None:
        replies.write(json.dumps(obj) + "\n")
        replies.flush()

    try:
        worker = _Worker(device_name, threads)
        send({"ready": True, "fingerprint": worker.fingerprint()})
    except Exception as exc:  # noqa: BLE001 - reported to the coordinator, which stops with one line
        send({"ready": False, "error": _one_line(exc)})
        return
    for line in requests:
        req = json.loads(line)
        if req["cmd"] == "quit":
            return
        send(worker.prepare(req) if req["cmd"] == "prepare" else worker.run(int(req["n"])))


def main(argv: list[str]) -> None:
    """`python -c ... DEVICE THREADS`: serve on stdin/stdout; library output goes to stderr."""
    replies = sys.stdout
    sys.stdout = sys.stderr  # a stray print() must not corrupt the protocol
    threads = int(argv[1]) if len(argv) > 1 and argv[1] != "-" else None
    serve(argv[0], threads, sys.stdin, replies)


if __name__ == "__zoobench_regress_worker__":
    main(sys.argv[1:])
