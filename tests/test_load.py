"""Machine load recorded per run and per cell, read back by comparisons, and the warning rule."""
import json
import os
import time

import pytest

from bench.grid import GridSpec
from bench.load import MIN_SHARE_WINDOW_S, CellLoad, load_warning
from bench.runner import TimingSettings, run_grid
from bench.runs import run_from_store
from bench.store import ResultStore
from devices.base import Prepared
from devices.cpu import CpuDevice

FAST = TimingSettings(max_time_s=0.02, min_samples=5, max_iters=50, warmup_cap=10, warmup_max_time_s=0.02)


class NoModelDevice(CpuDevice):
    """CPU device whose prepared 'model' does nothing (no torch work in this test)."""

    def prepare(self, model, example, **kw):
        return Prepared(run=lambda: sum(range(2000)))


@pytest.mark.skipif(not hasattr(os, "getloadavg"), reason="no load average on this OS")
def test_run_grid_records_load_per_run_and_per_cell(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        report = run_grid(store, NoModelDevice(), GridSpec(models=("resnet20_cifar",), batches=(1, 2)), FAST,
                          progress=False)
        fp = store.run_info(report.run_id)["fingerprint"]
        assert isinstance(fp["load_avg_1m"], float) and fp["load_avg_1m"] >= 0
        extras = [json.loads(e) for (e,) in store.conn.execute("SELECT extra FROM results")]
        assert len(extras) == 2
        for extra in extras:
            assert extra["load_avg_1m"] >= 0
            # these cells last milliseconds: too short for a CPU-share reading (MIN_SHARE_WINDOW_S)
            assert extra["cpu_share"] is None or 0 < extra["cpu_share"] <= os.cpu_count() + 0.5
        run = run_from_store(store, report.run_id)
    assert all(len(c.load_avg_1m) == 1 and len(c.cpu_share) <= 1 for c in run.cells.values())  # no share: none


def test_cell_load_measures_the_process_cpu_share():
    with CellLoad() as busy:
        end = time.perf_counter() + 2 * MIN_SHARE_WINDOW_S
        while time.perf_counter() < end:
            sum(range(10_000))
    assert 0.3 < busy.cpu_share <= 1.5  # a busy loop: about one core (less when the box is shared)
    assert set(busy.fields()) == {"load_avg_1m", "cpu_share"}
    with CellLoad() as short:
        pass
    assert short.cpu_share is None  # below the window the reading would be tick noise


def test_load_warning_rule():
    # 2 cores: loads 0.2 vs 0.6 are 0.2 per core apart (quiet); 0.2 vs 1.0 are 0.4 apart (warn)
    assert load_warning([0.2], [0.6], [], [], cores=2) is None
    msg = load_warning([0.2, 0.2], [1.0, 1.2], [], [], cores=2)
    assert msg and "0.20 (BASE) vs 1.10 (NEW) on 2 logical core(s)" in msg
    assert load_warning([0.2], [1.0], [], [], cores=8) is None  # the same load is a small part of 8 cores
    assert load_warning([], [], [1.0], [0.95], cores=2) is None  # CPU shares 5 % apart
    assert "CPU share" in load_warning([], [], [1.0], [0.8], cores=2)
    assert load_warning([], [5.0], [], [], cores=2) is None  # one side did not record: not judged
