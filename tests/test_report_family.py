"""`bench report` on rows stored without a family (imported results, older stores): no crash, the zoo
model gets its zoo family, a model outside the zoo is grouped as unknown."""
from __future__ import annotations

import random

import pandas as pd

from bench.cell import Cell
from bench.cli import main
from bench.report.source import UNKNOWN_FAMILY, load_frames
from bench.stats import summarize
from tests.test_report import fingerprint


def _db_without_families(path):
    from bench.store import ResultStore

    rng = random.Random(0)
    with ResultStore(path) as store:
        rid = store.start_run("cpu", fingerprint("cpu"), {"ci": 0.01})
        for model in ("vgg16_cifar", "my_private_net"):
            samples = [1.0 + 0.01 * rng.random() for _ in range(20)]
            store.add_result(rid, Cell(model, 1, threads=1), summarize(samples), samples, family=None)
        store.finish_run(rid)
    return path


def test_missing_families_are_filled_from_the_zoo_or_marked_unknown(tmp_path):
    import zoo

    results, _ = load_frames(_db_without_families(tmp_path / "r.sqlite"))
    fam = dict(zip(results["model"], results["family"]))
    assert fam["vgg16_cifar"] == zoo.get_meta("vgg16_cifar").family
    assert fam["my_private_net"] == UNKNOWN_FAMILY


def test_report_renders_rows_stored_without_a_family(tmp_path):
    db = _db_without_families(tmp_path / "r.sqlite")
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "out")]) == 0
    csv = next((tmp_path / "out").rglob("results.csv"))
    assert set(pd.read_csv(csv)["model"]) == {"vgg16_cifar", "my_private_net"}
