"""Devices own what is specific to them: a new target is its module plus one registry line; `devices`
never imports `bench`; devices leave no process-wide setting changed after a cell."""
import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from bench.cli import main
from bench.grid import Cell
from bench.runner import TimingSettings, check_impl_supported, run_cell
from devices.base import Device, Prepared, UnsupportedCell
from devices.cpu import CpuDevice
from devices.cuda import CudaDevice, CudaFlags
from devices.errors import DeviceError
from devices.registry import describer, machine_label, register_device, unregister_device

REPO = Path(__file__).resolve().parent.parent
TINY = ["--max-time", "0.05", "--warmup-max-time", "0.05", "--min-samples", "5", "--max-iters", "20",
        "--no-progress"]
FAST = TimingSettings(max_time_s=0.05, min_samples=5, max_iters=50, warmup_cap=10, warmup_max_time_s=0.05)

# A complete new target, as a newcomer would write it: this module plus one register_device line.
FAKE_MODULE = '''
"""Fake NPU target for tests: torch eager on the host, labelled as its own hardware."""
import torch

from devices.base import Device, Prepared, TargetText


class FakeNpuDevice(Device):
    name = "fakenpu"
    title = "Fake NPU"

    def __init__(self, boost=False):
        self.boost = boost

    @classmethod
    def label(cls, fp):
        return f"{fp.get('npu_model') or 'unknown NPU'} NPU"

    @classmethod
    def provenance(cls, fp, arch=None, machine=None):
        mode = "boost clock" if fp.get("boost") else "base clock"
        return TargetText(title=f"Fake NPU target: {fp.get('npu_model')} at {mode}", hardware=fp.get("npu_model"),
                          is_arm=False, folder_arch=None)

    @classmethod
    def add_options(cls, parser):
        parser.add_argument("--npu-boost", action="store_true", help="fakenpu: run at boost clock")

    @classmethod
    def from_options(cls, args):
        return cls(boost=args.npu_boost)

    def recorded_options(self):
        return {"boost": self.boost}

    def available(self):
        return True, ""

    def fingerprint(self, threads=None):
        return {"device": "fakenpu", "npu_model": "Zeta-9", "boost": self.boost, "arch": "x86_64",
                "torch": torch.__version__, "threads": threads or 1}

    def prepare(self, model, example, *, dtype="fp32", layout="nchw", threads=None, compile=False):
        model = model.eval()

        def run():
            with torch.inference_mode():
                return model(example)

        return Prepared(run=run, info={"threads": threads})
'''


@pytest.fixture
def fake_target(tmp_path, monkeypatch):
    """The fake module written to a folder on sys.path and registered like the built-in targets."""
    (tmp_path / "fake_npu_device.py").write_text(FAKE_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    register_device("fakenpu", "fake_npu_device:FakeNpuDevice")
    yield "fakenpu"
    unregister_device("fakenpu")
    sys.modules.pop("fake_npu_device", None)


def _err_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


# --- a new target in two files ------------------------------------------------------------------------

def test_fake_target_runs_end_to_end_and_reports_with_its_own_label(fake_target, tmp_path, capsys):
    db, out = tmp_path / "r.sqlite", tmp_path / "report"
    argv = ["run", "--device", "fakenpu", "--npu-boost", "--models", "resnet20_cifar", "--threads", "1",
            "--db", str(db), *TINY]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert "target fakenpu" in stdout and "measured on: Zeta-9 NPU" in stdout

    assert main(["results", "--db", str(db), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["target"], r["status"]) for r in rows] == [("fakenpu", "ok")] and rows[0]["p50_ms"] > 0

    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    assert "Fake NPU target: Zeta-9 at boost clock" in capsys.readouterr().out
    page = out / "fakenpu-zeta-9" / "batch-1" / "README.md"
    assert page.read_text().startswith("# Fake NPU target: Zeta-9 at boost clock, batch 1")
    assert "Fake NPU target: Zeta-9" in (out / "fakenpu-zeta-9" / "README.md").read_text()

    # the device's own option was recorded with the run, so --resume matches it
    assert main([*argv, "--resume"]) == 0
    assert "already done (resumed)" in capsys.readouterr().out


def test_fake_target_option_with_another_device_exits_2(fake_target, tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    assert main(["run", "--device", "cpu", "--npu-boost", "--db", str(db)]) == 2
    assert "--npu-boost needs --device fakenpu" in _err_line(capsys)
    assert not db.exists()


def test_unregistered_target_in_a_database_gets_a_generic_label(fake_target, tmp_path, capsys):
    """A database from an installation with an extra target reports here without it."""
    db, out = tmp_path / "r.sqlite", tmp_path / "report"
    assert main(["run", "--device", "fakenpu", "--models", "resnet20_cifar", "--threads", "1", "--db", str(db),
                 *TINY]) == 0
    unregister_device("fakenpu")
    try:
        capsys.readouterr()
        assert main(["report", "--db", str(db), "--out", str(out)]) == 0
        line = capsys.readouterr().out
        assert "[fakenpu on unknown CPU (x86_64)" in line
        assert main(["results", "--db", str(db), "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out)[0]["machine"] == "unknown CPU (x86_64)"
    finally:
        register_device("fakenpu", "fake_npu_device:FakeNpuDevice")  # the fixture unregisters it


def test_generic_text_for_unknown_targets_never_raises():
    assert machine_label("tpu9", {}) == "unknown CPU (?)"
    text = describer("tpu9").provenance({"cpu_model": "Xeon", "arch": "x86_64"})
    assert text.title == "tpu9 on Xeon (x86_64)" and text.hardware == "Xeon" and not text.is_arm
    assert describer("arm") is describer("mobile")


def test_registry_refuses_taken_names_and_mismatched_classes(fake_target):
    with pytest.raises(ValueError, match="already registered"):
        register_device("arm", "devices.cpu:CpuDevice")
    register_device("other", "devices.cpu:CpuDevice")
    try:
        from devices.registry import device_class

        with pytest.raises(ValueError, match="has name 'cpu', registered as 'other'"):
            device_class("other")
    finally:
        unregister_device("other")


def test_device_errors_are_bench_errors_exit_2(tmp_path, capsys):
    from bench.errors import BenchError

    assert issubclass(DeviceError, BenchError)
    # a device's own option check (mobile: --adb-serial without --adb-runner) surfaces as one line, exit 2
    assert main(["run", "--device", "mobile", "--adb-serial", "X1", "--db", str(tmp_path / "r.sqlite")]) == 2
    assert "--adb-serial needs --adb-runner" in _err_line(capsys)
    assert main(["run", "--device", "cpu", "--adb-serial", "X1", "--db", str(tmp_path / "r.sqlite")]) == 2
    assert "--adb-serial needs --device mobile" in _err_line(capsys)


# --- devices never import bench -----------------------------------------------------------------------

def test_devices_package_has_no_import_of_bench():
    """Every import statement in devices/, including ones inside functions."""
    offenders = []
    for path in sorted((REPO / "devices").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}:{node.lineno} {n}" for n in names if n == "bench" or n.startswith("bench.")]
    assert offenders == []


def test_importing_every_device_loads_no_bench_module():
    code = textwrap.dedent("""
        import sys
        from devices.registry import device_classes, machine_label
        import devices.host, devices.timer, devices.errors
        classes = device_classes()
        assert set(classes) >= {"cpu", "cuda", "mobile"}, classes
        machine_label("cuda", {"gpu_name": "X"})
        print(sorted(m for m in sys.modules if m == "bench" or m.startswith("bench.")))
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# --- capabilities instead of name checks ---------------------------------------------------------------

class _StreamsDevice(Device):
    """Unregistered device that declares the CUDA-streams HetConv impl as its own."""

    name = "streamy"
    extra_hetconv_impls = ("grouped_streams",)

    def available(self):
        return True, ""

    def fingerprint(self, threads=None):
        return {}

    def prepare(self, model, example, **kw):
        return Prepared(run=lambda: None)


def test_device_only_impls_follow_the_capability_not_the_name():
    check_impl_supported("grouped_streams", _StreamsDevice())  # declared: allowed
    check_impl_supported("grouped", CpuDevice())  # an impl every device runs
    with pytest.raises(UnsupportedCell, match=r"runs only on CUDA \(--device cuda\); this device is cpu"):
        check_impl_supported("grouped_streams", CpuDevice())
    assert CudaDevice.extra_hetconv_impls == ("grouped_streams",) and CpuDevice.extra_hetconv_impls == ()


# --- no hidden process-wide state ----------------------------------------------------------------------

@pytest.fixture
def two_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(old)


def test_cpu_prepare_sets_threads_for_the_cell_and_cleanup_restores(two_threads):
    dev = CpuDevice()
    model, x = nn.Conv2d(3, 4, 3).eval(), torch.randn(1, 3, 8, 8)
    first = dev.prepare(model, x, threads=1)
    assert torch.get_num_threads() == 1 and first.info["threads"] == 1
    dev.prepare(model, x, threads=1)  # a second model prepared for the same cell keeps the original to restore
    dev.cleanup()
    assert torch.get_num_threads() == two_threads
    dev.cleanup()  # nothing prepared: a no-op
    assert torch.get_num_threads() == two_threads
    dev.prepare(model, x)  # threads not given: the count in effect is used and left alone
    assert torch.get_num_threads() == two_threads


def test_run_cell_leaves_the_thread_count_as_it_found_it(two_threads):
    out = run_cell(CpuDevice(), Cell("resnet20_cifar", 1, "fp32", "nchw", None, 1), FAST)
    assert out.status == "ok" and out.info["threads"] == 1
    assert torch.get_num_threads() == two_threads


def test_cpu_fingerprint_only_reads(two_threads):
    fp = CpuDevice().fingerprint(threads=1)
    assert fp["threads"] == 1 and torch.get_num_threads() == two_threads


@pytest.mark.parametrize("before", [False, True])
def test_cuda_flags_are_set_for_a_cell_and_restored(before):
    """The flag handling of CudaDevice, without a GPU: only torch.backends attributes are touched."""
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = before
    try:
        dev = CudaDevice()
        dev.flags.apply()
        assert torch.backends.cudnn.benchmark is True
        dev.flags.apply()  # several models prepared for one cell
        dev.cleanup()
        assert torch.backends.cudnn.benchmark is before
        dev.cleanup()
        assert torch.backends.cudnn.benchmark is before
        off = CudaFlags(cudnn_benchmark=False)
        off.apply()
        assert torch.backends.cudnn.benchmark is False
        off.restore()
        assert torch.backends.cudnn.benchmark is before
    finally:
        torch.backends.cudnn.benchmark = saved


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fingerprint_only_reads_and_prepare_cleanup_restore():
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        dev = CudaDevice()
        fp = dev.fingerprint()
        assert fp["cudnn_benchmark"] is True  # what every cell runs with
        assert torch.backends.cudnn.benchmark is False  # ... but reading it changed nothing
        prep = dev.prepare(nn.Conv2d(3, 8, 3).eval(), torch.randn(1, 3, 16, 16))
        assert torch.backends.cudnn.benchmark is True and prep().is_cuda
        dev.cleanup()
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.backends.cudnn.benchmark = saved
