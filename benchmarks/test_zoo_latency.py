"""pytest-benchmark latency benchmarks over a small zoo subset (CPU, batch 1, fp32, deploy form).

For teams whose CI already stores and compares pytest-benchmark runs. Not part of the test
suite (pyproject's testpaths is ["tests"]); run it explicitly:

    .venv/bin/python -m pytest benchmarks --benchmark-only --benchmark-autosave
    .venv/bin/python -m pytest benchmarks --benchmark-only --benchmark-compare \\
        --benchmark-compare-fail=median:10%

`ZOOBENCH_BENCH_MODELS` (comma-separated) replaces the model list and
`ZOOBENCH_BENCH_THREADS` (default 1) sets torch's intra-op threads. Each benchmark records
the model's MACs, params, thread count and machine in `extra_info`, so a saved run says what
it measured. pytest-benchmark compares a run with one saved earlier; on a shared runner,
`bench regress` (both revisions interleaved on the same machine) is the more robust gate.
"""
from __future__ import annotations

import os

import pytest
import torch

DEFAULT_MODELS = ("resnet20_cifar", "vgg16_cifar_p4", "mobilenet_cifar")
MODELS = tuple(m.strip() for m in os.environ.get("ZOOBENCH_BENCH_MODELS", ",".join(DEFAULT_MODELS)).split(",")
               if m.strip())
THREADS = int(os.environ.get("ZOOBENCH_BENCH_THREADS", "1"))


@pytest.fixture(scope="module")
def cpu_device():
    """The zoobench CPU device (torch eager) with the benchmark's thread count."""
    from devices.registry import get_device

    torch.set_num_threads(THREADS)
    return get_device("cpu")


def _prepare(device, model_name: str):
    from bench.runner import example_batch
    from zoo.layers.reparam import deploy_form
    from zoo.registry import get_model

    model = deploy_form(get_model(model_name), inplace=True)
    return device.prepare(model, example_batch(model_name, 1), threads=THREADS)


@pytest.mark.benchmark(group="zoo cpu b1 fp32", warmup=True, warmup_iterations=20, min_rounds=30, max_time=2.0)
@pytest.mark.parametrize("model_name", MODELS)
def test_latency(benchmark, cpu_device, model_name):
    """Latency of one forward pass (batch 1) of the model's deploy form."""
    from bench.fingerprint import machine_label
    from bench.runner import CostLookup
    from zoo.registry import get_meta

    prepared = _prepare(cpu_device, model_name)
    costs = CostLookup()(model_name)
    benchmark.extra_info.update(model=model_name, macs=costs["macs"], params=costs["params"], threads=THREADS,
                                batch=1, dtype="fp32", machine=machine_label("cpu", cpu_device.fingerprint(THREADS)))
    out = benchmark(prepared.run)
    assert out.shape == (1, get_meta(model_name).num_classes)
