"""The Python API (bench.api) and `python -m bench`: notebook-style use, results as DataFrames."""
import subprocess
import sys
import textwrap

import pytest
import torch

from bench import api
from bench.errors import BenchError

FAST = dict(max_time_s=0.05, ci=0.5)


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.bn = torch.nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.conv(x)).mean((2, 3))


def test_benchmark_module_returns_stats_costs_and_frame():
    r = api.benchmark(Small(), example=torch.randn(2, 3, 16, 16), name="small", threads=1, **FAST)
    cell = r.cells[0]
    assert cell.status == "ok" and cell.batch == 2
    assert r.p50_ms > 0 and r.ci_ms[0] <= r.p50_ms <= r.ci_ms[1]
    assert len(r.samples_ms) == cell.stats["samples"]
    assert r.params == sum(p.numel() for p in Small().conv.parameters())  # BN folded into the conv
    assert r.macs == 8 * 3 * 9 * 14 * 14
    df = r.to_frame()
    assert list(df["model"]) == ["small"] and df.loc[0, "source"] == "module"
    assert {"p50_ms", "ci_low_ms", "macs", "params", "machine", "run_id"} <= set(df.columns)
    assert r.fingerprint.get("device") == "cpu"


def test_benchmark_names_store_and_load_results(tmp_path):
    db = tmp_path / "r.sqlite"
    r = api.benchmark("resnet20_cifar,examples/my_net.py:MyNet", input_size=(3, 32, 32), db=db, threads=1, **FAST)
    assert [c.model for c in r.cells] == ["resnet20_cifar", "examples/my_net.py:MyNet"]
    df = api.load_results(db)
    assert set(df["run_id"]) == {r.run_id}
    assert sorted(df["model"]) == sorted(c.model for c in r.cells)


def test_api_errors_are_bench_errors(tmp_path):
    with pytest.raises(BenchError, match="unknown timm model"):
        api.benchmark("timm:not_a_model_xyz")
    with pytest.raises(BenchError, match="needs an input size"):
        api.benchmark(Small())
    with pytest.raises(BenchError, match="no results database"):
        api.load_results(tmp_path / "none.sqlite")


def test_python_dash_m_bench_and_notebook_script(tmp_path):
    help_run = subprocess.run([sys.executable, "-m", "bench", "--help"], capture_output=True, text=True)
    assert help_run.returncode == 0 and "zoobench" in help_run.stdout
    script = tmp_path / "notebook.py"
    script.write_text(textwrap.dedent('''
        import torch
        from bench.api import benchmark
        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = torch.nn.Linear(12, 4)
            def forward(self, x):
                return self.fc(x.flatten(1))
        r = benchmark(Net(), example=torch.randn(1, 3, 2, 2), max_time_s=0.05, ci=0.5, threads=1)
        df = r.to_frame()
        print(df.loc[0, "status"], int(df.loc[0, "macs"]))
    '''))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["ok", str(12 * 4)]
