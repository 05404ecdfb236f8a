"""The report site's views (bench/report/views/), on a database written through ResultStore."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from tests.site_db import CONTENDED, NOISY, SLOWED, write_site_db


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return write_site_db(tmp_path_factory.mktemp("views") / "results.sqlite")


@pytest.fixture(scope="module")
def data(db):
    from bench.report.data import build_slices
    from bench.report.source import load_frames
    from bench.report.views.base import SiteData

    results, runs = load_frames(db)
    return SiteData(results, runs, build_slices(results, runs), db)


@pytest.fixture(scope="module")
def site(db, tmp_path_factory):
    from bench.cli import main

    out = tmp_path_factory.mktemp("site")
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    return out


def _slice(data, target, batch):
    [s] = [s for s in data.slices if s.target == target and s.batch == batch]
    return s


def test_every_registered_view_is_a_module_with_its_interface():
    from bench.report.views.registry import view_modules

    for module in view_modules():
        assert module.NAME and module.TITLE and module.NEEDS and callable(module.build)


def test_cross_target_ratio_ranks_and_fronts(data):
    from scipy.stats import spearmanr

    from bench.report.views.cross_target import front_changes, paired_rows, rank_correlation

    a, b = _slice(data, "cpu", 1), _slice(data, "mobile", 1)
    both, left_out = paired_rows(a, b)
    assert left_out == [] and set(both["model"]) == set(a.measured()["model"])
    p50_a = a.measured().set_index("model")["p50_ms"]
    p50_b = b.measured().set_index("model")["p50_ms"]
    for r in both.itertuples():
        assert r.ratio == pytest.approx(p50_b[r.model] / p50_a[r.model])
    rho, tau = rank_correlation(both)
    assert rho == pytest.approx(spearmanr(both["p50_ms_a"], both["p50_ms_b"]).statistic) and tau is not None
    fronts = front_changes(both)
    on_a = set(fronts["both"]) | set(fronts["a"])
    assert on_a and not set(fronts["a"]) & set(fronts["b"])


def test_batch_view_throughput_is_batch_over_p50(data):
    from bench.report.views.batch import throughput_rows

    cpu = [s for s in data.slices if s.target == "cpu"]
    df = throughput_rows(cpu)
    assert set(df["batch"]) == {1, 4}
    for r in df.itertuples():
        assert r.images_s == pytest.approx(r.batch * 1000.0 / r.p50_ms)
    assert throughput_rows([_slice(data, "mobile", 1)]).empty  # one batch only: nothing to draw


def test_history_marks_the_change_bench_compare_calls(data):
    from bench.report.views.history import commit_changes, commit_groups

    s = _slice(data, "cpu", 1)
    rows = data.results[(data.results["target"] == "cpu") & (data.results["batch"] == 1)]
    groups = commit_groups(rows, data.runs)
    assert [len(ids) for _, ids, _ in groups] == [2, 2]
    changes, notes = commit_changes(data, groups, s.batch)
    assert notes == []
    [(_, cells)] = changes
    slower = {c.model for c in cells if c.verdict == "slower"}
    assert SLOWED in slower
    assert all(c.regression for c in cells if c.model == SLOWED)


def test_distribution_flags_noisy_and_contended_cells(site):
    cpu = (site / "views").glob("distribution-cpu-*-batch-1.html")
    mobile = (site / "views").glob("distribution-mobile-*-batch-1.html")
    [cpu], [mobile] = list(cpu), list(mobile)
    assert f"{NOISY[1]}: noisy" in cpu.read_text()
    assert f"{CONTENDED[1]}: contended" in mobile.read_text()


def test_index_links_every_view_page_and_each_exists(site):
    index = (site / "index.html").read_text()
    links = re.findall(r'href="(views/[^"]+)"', index)
    assert {p.name for p in (site / "views").glob("*.html")} == {link.split("/", 1)[1] for link in links}
    kinds = {link.split("/", 1)[1].split("-", 1)[0] for link in links}
    assert kinds == {"cross", "batch", "history", "distribution"}
    for link in links:
        page = (site / link).read_text()
        assert '<a href="../index.html">' in page and "src=\"http" not in page


def test_views_without_data_say_what_they_need(tmp_path):
    from bench.report.writer import write_reports
    from tests.test_report import SMALL_MODELS, synthetic_frames

    results, runs = synthetic_frames(SMALL_MODELS)
    write_reports(results, runs, tmp_path)
    index = (tmp_path / "index.html").read_text()
    assert "needs two targets" in index and "needs raw samples" in index
    assert not list((tmp_path / "views").glob("*.html"))
