"""Shared pytest fixtures and settings."""
import os
import tempfile

import pytest
import torch

# Tests run on whatever cores CI has; fix threads so timings inside tests do not fight each other.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
# Tests (and the CLI subprocesses they start) never load the user's saved variants from the checkout's
# bench-out/variants or $ZOOBENCH_VARIANTS: a folder that does not exist, unless a test names its own.
# The contention guard's pause before a retry (bench run/claim): none in tests, which run on a busy machine.
os.environ["ZOOBENCH_GUARD_PAUSE_S"] = "0"
os.environ["ZOOBENCH_VARIANTS"] = os.path.join(tempfile.mkdtemp(prefix="zoobench-tests-"), "no-variants")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _forget_user_models():
    """User model sources (timm:, tv:, PATH.py:NAME, PATH.pt2) a test registered in this process are
    forgotten after it, so later tests see only the zoo (tests that count `list_models()`)."""
    from zoo import sources

    before = set(sources._SOURCES)
    yield
    for name in set(sources._SOURCES) - before:
        sources.unregister_source(name)


@pytest.fixture
def variants(tmp_path, monkeypatch):
    """An empty derived-variants folder; variants registered during the test are removed after it."""
    import zoo
    from zoo import derived

    folder = tmp_path / "variants"
    monkeypatch.setenv(derived.ENV_VAR, str(folder))
    before = set(zoo.list_models())
    yield folder
    for name in set(zoo.list_models()) - before:
        zoo.registry.unregister_model(name)
