"""The deterministic regression tier: every variant's MACs/params equal the committed table."""
from pathlib import Path

import os

import pytest

import zoo
from bench import declared
from bench.costs import many_model_costs


def _declared_names(dataset: str | None = None) -> list[str]:
    # derived variants (bench prune / lowrank, in the user's bench-out/variants) are per user, not declared
    return [n for n in zoo.list_models() if "derived" not in zoo.get_meta(n).tags
            and (dataset is None or zoo.get_meta(n).dataset == dataset)]


def _assert_declared(names: list[str]) -> None:
    rows = many_model_costs(names, jobs=min(2, os.cpu_count() or 1))
    diffs, missing = declared.check(rows)
    assert not diffs and not missing, "\n" + declared.format_diff(diffs, missing)


def test_cifar_variants_match_the_declared_table():
    _assert_declared(_declared_names("cifar10"))


@pytest.mark.slow  # CI's deterministic tier (`bench costs --check` in .ci/run) covers every variant too
def test_every_variant_matches_the_declared_table():
    _assert_declared(_declared_names())


def test_diff_is_readable_and_update_is_a_merge(tmp_path: Path):
    table = tmp_path / "declared.csv"
    declared.update([{"name": "a", "macs": 100, "executed_macs": 120, "params": 10},
                     {"name": "b", "macs": 5, "executed_macs": 5, "params": 1}], table)
    diffs, missing = declared.check([{"name": "a", "macs": 110, "executed_macs": 120, "params": 10},
                                     {"name": "c", "macs": 1, "executed_macs": 1, "params": 1}], table)
    assert [(d.name, d.field, d.old, d.new) for d in diffs] == [("a", "macs", 100, 110)]
    assert missing == ["c"]
    text = declared.format_diff(diffs, missing)
    assert "a" in text and "+10.00%" in text and "not in the declared table: c" in text
    declared.update([{"name": "a", "macs": 110, "executed_macs": 120, "params": 10}], table)
    assert declared.load(table) == {"a": {"macs": 110, "executed_macs": 120, "params": 10},
                                    "b": {"macs": 5, "executed_macs": 5, "params": 1}}
