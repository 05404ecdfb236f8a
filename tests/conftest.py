"""Shared pytest fixtures and settings."""
import os

import pytest
import torch

# Tests run on whatever cores CI has; fix threads so timings inside tests do not fight each other.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
