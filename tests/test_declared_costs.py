"""The deterministic regression tier: every variant's MACs/params equal the committed table."""
from pathlib import Path

import zoo
from bench import declared
from bench.costs import model_costs


def test_every_variant_matches_the_declared_table():
    # derived variants (bench prune / lowrank, in the user's bench-out/variants) are per user, not declared
    rows = [model_costs(n).to_dict() for n in zoo.list_models() if "derived" not in zoo.get_meta(n).tags]
    diffs, missing = declared.check(rows)
    assert not diffs and not missing, "\n" + declared.format_diff(diffs, missing)


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
