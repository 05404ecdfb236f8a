"""`bench profile` / `bench ceilings`: layers attributed, MACs add up to `bench costs`, bytes exact,
ceilings positive and cached, coverage computed, bad input exits 2."""
import json
import math
import sqlite3

import pytest
import torch
import torch.nn as nn

from bench.cli import main
from bench.costs import count_module, model_costs
from bench.profiling.ceilings import Ceilings, ceilings_for, measure_ceilings, nominal_peak
from bench.profiling.fx_scopes import scoped
from bench.profiling.layers import MODEL_ROW, analyse
from bench.profiling.profile import profile_module
from bench.store import ResultStore
from devices.cpu import CpuDevice
from zoo.layers.hetconv import HetConv2d
from zoo.layers.reparam import deploy_form
from zoo.registry import get_model

FAST = dict(max_time_s=0.2, warmup_max_time_s=0.2, min_samples=3, max_iters=20)
TINY = dict(gemm_n=64, conv_shape=(1, 8, 8, 8), stream_elements=4096, reps=2)


class Block(nn.Module):
    """conv -> BN -> in-place ReLU, plus the input (a functional add in this module's own forward)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x))) + x


class Synthetic(nn.Module):
    """Known layers: dense 3x3, HetConv P4, depthwise, 1x1, a concat, pooling, flatten, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.block = Block(8)
        self.het = HetConv2d(8, 8, 3, part=4, impl="grouped")
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.pw = nn.Conv2d(16, 4, 1, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        y = self.block(x)
        y = torch.cat([self.het(y), self.dw(y)], dim=1)
        return self.fc(torch.flatten(self.pool(self.pw(y)), 1))


EXPECTED_KINDS = {"block": "add", "block.conv": "conv 3x3", "block.bn": "batchnorm", "block.relu": "activation",
                  "het": "hetconv 3x3 P4 grouped", "dw": "depthwise 3x3", "pw": "conv 1x1", "pool": "pool",
                  "fc": "linear"}


def _synthetic(batch=2):
    torch.manual_seed(0)
    return Synthetic().eval(), torch.randn(batch, 8, 6, 6)


@pytest.fixture(scope="module")
def synthetic_profile():
    model, x = _synthetic()
    reference = count_module(Synthetic().eval(), x)  # `bench costs`' counting, on an identical model
    result = profile_module(model, x, CpuDevice(), name="synthetic", threads=1, iterations=3, timing=FAST)
    return model, x, reference, result


def test_every_layer_attributed_with_its_kind(synthetic_profile):
    _, _, _, result = synthetic_profile
    rows = {r["layer"]: r for r in result.layers}
    assert set(EXPECTED_KINDS) | {MODEL_ROW} == set(rows)
    for path, kind in EXPECTED_KINDS.items():
        assert rows[path]["kind"] == kind, path
        assert rows[path]["calls"] == 1
    # the concat and flatten run in the model's own forward
    assert rows[MODEL_ROW]["kind"].startswith("concat+reshape")
    for path in ("block.conv", "het", "dw", "pw", "fc"):
        assert rows[path]["ms"] > 0, path
    assert sum(r["pct"] for r in result.layers) == pytest.approx(100.0)


def test_layer_macs_sum_to_bench_costs(synthetic_profile):
    _, _, reference, result = synthetic_profile
    assert sum(r["macs"] for r in result.layers) == reference["macs"] == result.summary["macs"]
    # HetConv by the paper's formula, not the grouped impl's executed zeros
    het = next(r for r in result.layers if r["layer"] == "het")
    n, m, k, p, (h, w) = 8, 8, 3, 4, (6, 6)
    assert het["macs"] == 2 * h * w * n * (m * k * k // p + m - m // p)


def test_bytes_are_exact(synthetic_profile):
    model, x, _, result = synthetic_profile
    rows = {r["layer"]: r for r in result.layers}
    f = 4  # fp32
    act = x.numel()
    conv = model.block.conv
    assert rows["block.conv"]["bytes"] == f * (act + conv.weight.numel() + conv.bias.numel() + act)
    assert rows["block.bn"]["bytes"] == f * (act + 4 * 8 + act)  # weight, bias, running mean and var
    assert rows["block.relu"]["bytes"] == f * 2 * act  # in place: read and written
    assert rows["block"]["bytes"] == f * 3 * act  # the add: two inputs, one output
    cat_out = 2 * act
    assert rows["dw"]["bytes"] == f * (act + model.dw.weight.numel() + act)
    assert rows["pw"]["bytes"] == f * (cat_out + model.pw.weight.numel() + x.shape[0] * 4 * 36)
    # the model's own ops: the concat (reads both halves, writes the whole); flatten is a view
    assert rows[MODEL_ROW]["bytes"] == f * (act + act + cat_out)
    assert result.summary["bytes"] == sum(r["bytes"] for r in result.layers)


def test_coverage_and_overhead_computed(synthetic_profile):
    _, _, _, result = synthetic_profile
    s = result.summary
    assert s["e2e_p50_ms"] > 0 and s["layers_ms"] > 0
    assert s["coverage"] == pytest.approx(s["layers_ms"] / s["e2e_p50_ms"])
    assert math.isfinite(s["profiler_overhead"]) and s["iterations"] == 3
    assert s["floor_ms"] is None  # no ceilings given


def test_fx_deploy_form_ops_keep_their_modules_and_macs_match_costs():
    name = "resnet20_cifar"
    model = deploy_form(get_model(name), inplace=True)
    view = scoped(model)
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(view(x), model(x))

    def run():
        with torch.inference_mode():
            return view(x)

    layers = analyse(view, run, x)
    assert sum(lay.macs for lay in layers) == model_costs(name).macs
    adds = [lay for lay in layers if lay.kind == "add"]
    assert adds and all(lay.path.startswith("blocks.") for lay in adds)  # at their blocks, not the model
    assert "add" not in next(lay for lay in layers if lay.path == MODEL_ROW).ops


def test_ceilings_positive_cached_and_used_for_the_floor(tmp_path):
    device = CpuDevice()
    with ResultStore(tmp_path / "r.sqlite") as store:
        first, cached = ceilings_for(store, device, 1, "fp32", **TINY)
        assert not cached
        for v in (first.gemm_gflops, first.conv_gflops, first.copy_gbs, first.triad_gbs):
            assert v > 0
        again, cached = ceilings_for(store, device, 1, "fp32", **TINY)
        assert cached and again.to_dict() == first.to_dict()
        _, cached = ceilings_for(store, device, 1, "bf16", **TINY)
        assert not cached  # another dtype is another entry
    model, x = _synthetic(batch=1)
    result = profile_module(model, x, device, threads=1, iterations=2, timing=FAST, ceilings=first)
    for r in result.layers:
        expect = max(2 * r["macs"] / (first.peak_gflops * 1e9), r["bytes"] / (first.bandwidth_gbs * 1e9)) * 1e3
        assert r["floor_ms"] == pytest.approx(expect)
    assert result.summary["floor_ms"] == pytest.approx(sum(r["floor_ms"] for r in result.layers))


def test_nominal_peak_follows_the_isa_flags():
    base = "processor : 0\ncpu MHz : 2000.0\nflags : fpu sse2 {}\n"
    avx512, _ = nominal_peak(2, cpuinfo=base.format("avx2 fma avx512f"))
    avx2, basis = nominal_peak(2, cpuinfo=base.format("avx2 fma"))
    assert avx512 == pytest.approx(2 * avx2) and "AVX2" in basis
    assert nominal_peak(2, cpuinfo=base.format(""))[0] is None
    assert measure_ceilings(1, **TINY).threads == 1


@pytest.mark.parametrize("args,needle", [
    (["profile", "no_such_model"], "no_such_model"),
    (["profile", "resnet20_cifar", "--device", "tpu"], "unknown device"),
    (["profile", "resnet20_cifar", "--device", "cuda"], "cuda"),
    (["profile", "resnet20_cifar", "--batch", "0"], "--batch"),
    (["ceilings", "--device", "tpu"], "unknown device"),
])
def test_bad_input_is_one_line_exit_2(capsys, tmp_path, args, needle):
    assert main(args + ["--db", str(tmp_path / "r.sqlite")]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and needle in out.err


def test_cli_profiles_and_stores_one_row_per_layer(capsys, tmp_path):
    db = tmp_path / "r.sqlite"
    assert main(["profile", "resnet20_cifar", "--db", str(db), "--threads", "1", "--iters", "2",
                 "--max-time", "0.2", "--no-roofline", "--format", "json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)
    assert doc["status"] == "ok" and doc["summary"]["macs"] == model_costs("resnet20_cifar").macs
    con = sqlite3.connect(db)
    (n,) = con.execute("SELECT COUNT(*) FROM profile_layers WHERE profile_id=?", (doc["profile_id"],)).fetchone()
    assert n == len(doc["layers"]) > 10
    status, summary = con.execute("SELECT status, summary FROM profiles").fetchone()
    assert status == "ok" and json.loads(summary)["coverage"] > 0


def test_cpu_peak_memory_is_repeatable_and_holds_the_largest_activation():
    device = CpuDevice()
    model, x = _synthetic(batch=4)
    prepared = device.prepare(model, x, threads=1)
    try:
        figures = [device.peak_memory(prepared.run) for _ in range(3)]
    finally:
        device.cleanup()
    peaks = [f["peak_mem_mb"] for f in figures]
    assert max(peaks) <= 1.05 * min(peaks)
    largest = 2 * x.numel() * 4 / 2**20  # the concat's output: 16 channels at the input's size
    assert min(peaks) >= largest and "allocator" in figures[0]["peak_mem_method"]


def test_bench_run_cells_carry_peak_memory():
    from bench.grid import Cell
    from bench.runner import TimingSettings, run_cell

    cell = Cell(model="resnet20_cifar", batch=1, dtype="fp32", layout="nchw", impl=None, threads=1, compile=False)
    outcome = run_cell(CpuDevice(), cell, TimingSettings(max_time_s=0.1, warmup_max_time_s=0.1, min_samples=3))
    assert outcome.status == "ok", outcome.message
    assert outcome.info["peak_mem_mb"] > 0 and outcome.info["peak_mem_method"]


def test_mobile_fp16_is_stored_unsupported_with_the_reason(capsys, tmp_path):
    db = tmp_path / "r.sqlite"
    assert main(["profile", "resnet20_cifar", "--device", "mobile", "--dtype", "fp16", "--db", str(db),
                 "--format", "json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)
    assert doc["status"] == "unsupported" and "fp32" in doc["message"]
    assert sqlite3.connect(db).execute("SELECT status, message FROM profiles").fetchone() == ("unsupported",
                                                                                             doc["message"])


@pytest.mark.slow  # exports, lowers and runs an ExecuTorch program
@pytest.mark.skipif(__import__("devices.mobile", fromlist=["x"]).executorch_version() is None,
                    reason="executorch not installed")
def test_mobile_etdump_profile_has_xnnpack_ops_and_coverage():
    from devices.mobile import MobileDevice

    model = deploy_form(get_model("resnet20_cifar"), inplace=True)
    # ceilings given by hand: this checks where the floor goes, not the XNNPACK figures
    ceilings = Ceilings(gemm_gflops=50.0, conv_gflops=40.0, copy_gbs=None, triad_gbs=None, add_gbs=5.0, threads=1,
                        dtype="fp32", measured_s=0.0, target="mobile")
    result = profile_module(model, torch.randn(1, 3, 32, 32), MobileDevice(), name="resnet20_cifar", threads=1,
                            iterations=3, timing=FAST, ceilings=ceilings)
    kinds = {r["kind"] for r in result.layers}
    assert {"conv", "add", "linear"} <= kinds
    s = result.summary
    assert s["coverage"] == pytest.approx(s["layers_ms"] / s["e2e_p50_ms"]) and s["coverage"] > 0
    assert s["macs"] == model_costs("resnet20_cifar").macs
    assert "XNNPACK per-op events" in s["profiler"]
    # the convolution / fully-connected ops carry their layer's MACs: together the model's (no HetConv here)
    mapped = [r for r in result.layers if r.get("macs")]
    assert s["mapped_ops"] == len(mapped) > 0 and "mapped" in s["op_mapping"]
    assert sum(r["macs"] for r in mapped) == model_costs("resnet20_cifar").macs
    modules = dict(model.named_modules())
    assert all(r["layer"].split(" <- ")[1] in modules and r["bytes"] > 0 for r in mapped)
    # the mapped ops get their floor with the XNNPACK ceilings; the model's floor is their sum
    for r in mapped:
        assert r["floor_ms"] == pytest.approx(max(2 * r["macs"] / 50e9, r["bytes"] / 5e9) * 1e3)
    assert s["floor_ms"] == pytest.approx(sum(r["floor_ms"] for r in mapped))
    assert s["pct_floor"] == pytest.approx(100 * s["floor_ms"] / s["e2e_p50_ms"])
    assert (s["peak_gflops"], s["bandwidth_gbs"]) == (50.0, 5.0)


def test_table_output_states_coverage_and_profiler_overhead(capsys, tmp_path):
    assert main(["profile", "resnet20_cifar", "--db", str(tmp_path / "r.sqlite"), "--threads", "1", "--iters", "2",
                 "--max-time", "0.2", "--no-roofline"]) == 0
    out = capsys.readouterr().out
    assert "coverage" in out and "profiler overhead" in out and "blocks.0.add" in out


def test_cli_profiles_a_model_source_from_a_user_file(capsys, tmp_path):
    # model sources (issue 13) are accepted by `bench profile` like zoo names
    net = tmp_path / "tiny_net.py"
    net.write_text("import torch.nn as nn\n\n"
                   "class Tiny(nn.Module):\n"
                   "    def __init__(self, width=8):\n"
                   "        super().__init__()\n"
                   "        self.conv = nn.Conv2d(3, width, 3, padding=1)\n"
                   "        self.pool = nn.AdaptiveAvgPool2d(1)\n"
                   "        self.fc = nn.Linear(width, 10)\n\n"
                   "    def forward(self, x):\n"
                   "        return self.fc(self.pool(self.conv(x)).flatten(1))\n")
    assert main(["profile", f"{net}:Tiny?width=16", "--input-size", "3x16x16", "--db", str(tmp_path / "r.sqlite"),
                 "--threads", "1", "--iters", "2", "--max-time", "0.2", "--no-roofline", "--format", "json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)
    # conv 16x16 output x 16 ch x 3*3*3 taps + fc 16x10: counted with the zoo's convention
    assert doc["status"] == "ok" and doc["summary"]["macs"] == 16 * 16 * 16 * 27 + 16 * 10
    assert main(["profile", f"{net}:Tiny", "--db", str(tmp_path / "r.sqlite")]) == 2  # no --input-size
    assert "input-size" in capsys.readouterr().err


def test_mobile_op_mapping_is_refused_when_the_counts_differ():
    from bench.profiling.pte_layers import attach_macs

    rows = [dict(layer="Convolution (NHWC, F32) IGEMM #1", delegated=True, ms=1.0),
            dict(layer="Add (ND) #1", delegated=True, ms=0.1)]
    node = dict(path="conv", kind="conv", macs=10, bytes=20, in_shape=None, out_shape=None)
    n, why = attach_macs(rows, [node, node])
    assert n == 0 and "not mapped" in why and all("macs" not in r for r in rows)
    n, why = attach_macs(rows, [dict(node, kind="linear")])
    assert n == 0 and "not mapped" in why
    n, _ = attach_macs(rows, [node])
    assert n == 1 and rows[0]["macs"] == 10 and rows[0]["layer"].endswith("<- conv") and "macs" not in rows[1]
