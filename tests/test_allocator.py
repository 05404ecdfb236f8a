"""glibc malloc thresholds pinned by every bench command (devices.allocator)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
glibc_only = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="mallopt thresholds are a glibc feature")

# Allocates 1 MiB through libc malloc and reports whether glibc served it from mmap (hblkhd grows)
# or from the heap: with the default 128 KiB threshold it is mmap'ed, with the pinned 32 MiB one it is not.
PROBE = """
import ctypes, sys
sys.path.insert(0, {repo!r})
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if {pin}:
    from devices.allocator import pin_malloc
    print(pin_malloc())
before = libc.mallinfo2().hblkhd
p = libc.malloc(1 << 20)
print("mmap" if libc.mallinfo2().hblkhd > before else "heap")
libc.free(p)
"""


def _probe(pin: bool, env: dict[str, str] | None = None) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(repo=str(REPO), pin=pin)], capture_output=True,
                         text=True, check=True, env={**os.environ, **(env or {})})
    return out.stdout.split("\n")[:-1]


@glibc_only
def test_default_glibc_mmaps_a_1mib_block_and_the_pinned_threshold_keeps_it_on_the_heap():
    assert _probe(False) == ["mmap"]  # the probe can tell the two paths apart
    state, where = _probe(True)
    assert state.startswith("pinned: mmap_threshold=32MiB")
    assert where == "heap"


@glibc_only
def test_zoobench_malloc_default_leaves_glibc_alone():
    state, where = _probe(True, {"ZOOBENCH_MALLOC": "default"})
    assert "glibc defaults" in state
    assert where == "mmap"


def test_fingerprint_records_the_allocator_state_and_compare_reports_it_as_jitter():
    from bench.fingerprint_match import match_fingerprints
    from devices.allocator import malloc_state
    from devices.host import host_fingerprint

    assert host_fingerprint()["malloc"] == malloc_state()
    check = match_fingerprints({"cpu_model": "x"}, {"cpu_model": "x", "malloc": "pinned: ..."})
    assert check.ok and "malloc" in check.jittered


@glibc_only
def test_every_bench_command_pins_before_running(tmp_path):
    # any command goes through bench.cli.main, which pins before dispatching (devices.allocator says why)
    code = ("import sys; from bench.cli import main; from devices.allocator import malloc_state; "
            "main(['results', '--db', sys.argv[1]]); print(malloc_state())")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "r.sqlite")], capture_output=True, text=True,
                         cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.strip().splitlines()[-1].startswith("pinned: "), out.stdout + out.stderr
