"""Machine fingerprints: a re-export kept so older code and baselines keep importing from here.

Host facts live in `devices.host`; each device's own fields and labels live in its module
(`devices.cpu`, `devices.cuda`, `devices.mobile`), found through `devices.registry`.
"""
from __future__ import annotations

from devices.host import REPO_ROOT, cpu_model_name, git_commit, host_fingerprint, is_arm, onednn_version
from devices.registry import machine_label

__all__ = ["REPO_ROOT", "cpu_model_name", "git_commit", "host_fingerprint", "is_arm", "machine_label",
           "onednn_version"]
