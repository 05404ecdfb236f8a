"""Reports: data joining, baselines, fronts, rank comparison, label placement and written files.

The fixture frames are shaped like `ResultStore.results_frame()` / `runs_frame()`. Model names,
families and MACs are the zoo's real ones (MACs from the committed declared-costs table); the
latencies are SYNTHETIC (a power law of MACs with per-family overheads and noise), only to
exercise the report code. They are written to tmp_path, never under reports/.
"""
from __future__ import annotations

import csv
import io
import json
import random
import re
from pathlib import Path

import pandas as pd
import pytest

from bench import declared
from bench.cli import main
from bench.pareto import FrontPoint, non_dominated

# model -> family: the HetConv paper zoo, CIFAR ResNets and a few torchvision ImageNet models
FIXTURE_MODELS = {
    "vgg16_cifar": "vgg_cifar", "vgg16_cifar_p2": "vgg_cifar", "vgg16_cifar_p4": "vgg_cifar",
    "vgg16_cifar_p8": "vgg_cifar", "vgg16_cifar_p16": "vgg_cifar", "vgg16_cifar_p32": "vgg_cifar",
    "vgg16_cifar_p64": "vgg_cifar", "vgg16_cifar_pc": "vgg_cifar", "vgg16_cifar_gwc4_pwc": "vgg_cifar",
    "vgg16_cifar_dwc_pwc": "vgg_cifar", "vgg16_cifar_p4_se": "vgg_cifar",
    "resnet20_cifar": "resnet_cifar", "resnet32_cifar": "resnet_cifar", "resnet56_cifar": "resnet_cifar",
    "resnet110_cifar": "resnet_cifar", "resnet56_cifar_p2": "resnet_cifar", "resnet56_cifar_p4": "resnet_cifar",
    "mobilenet_cifar": "mobilenet_cifar", "mobilenet_cifar_p32": "mobilenet_cifar",
    "resnet18": "resnet", "resnet50": "resnet", "resnet50_p4": "hetconv_imagenet", "mobilenet_v2": "mobilenet_v2",
    "shufflenet_v2_x0_5": "shufflenet_v2", "shufflenet_v2_x1_0": "shufflenet_v2",
}
SMALL_MODELS = {m: FIXTURE_MODELS[m] for m in (
    "vgg16_cifar", "vgg16_cifar_p2", "vgg16_cifar_p4", "vgg16_cifar_p4_se", "resnet56_cifar", "resnet56_cifar_p2",
    "resnet18", "mobilenet_v2", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0")}
# per-family slowdown over the MACs power law (depthwise / grouped convs run below peak)
FAMILY_OVERHEAD = {"vgg_cifar": 1.0, "resnet_cifar": 1.6, "mobilenet_cifar": 2.5, "resnet": 1.0,
                   "hetconv_imagenet": 1.4, "mobilenet_v2": 3.0, "shufflenet_v2": 4.0}
HOST_CPU = "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz"


def fingerprint(target: str, arch: str = "x86_64") -> dict:
    """A fingerprint shaped like bench.fingerprint.host_fingerprint() plus device fields."""
    fp = {"cpu_model": HOST_CPU, "arch": arch, "cores_logical": 2, "os": "Linux-6.8-x86_64-with-glibc2.39",
          "python": "3.11.9", "torch": "2.14.1", "onednn": "3.9.1", "git_commit": "0123456789abcdef", "threads": 2,
          "device": target}
    if target == "mobile":
        fp.update(executorch="1.5.1", runtime="executorch python runtime on host", host_is_arm=False)
    return fp


def synthetic_frames(models: dict[str, str] | None = None, *, target: str = "cpu", batches: tuple[int, ...] = (1,),
                     seed: int = 0, run_id: str = "run-1", created_at: str = "2026-11-22T10:00:00+00:00",
                     impls: tuple[str, ...] = ("default",), arch: str = "x86_64") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results, runs) with one ok row per model x batch x impl; latencies are synthetic."""
    models = FIXTURE_MODELS if models is None else models
    costs = declared.load()
    rng = random.Random(seed)
    machine = f"{HOST_CPU} ({arch})" if target != "mobile" else f"XNNPACK on host {arch}: {HOST_CPU}"
    rows = []
    for batch in batches:
        for model, family in models.items():
            for impl in impls:
                macs = costs.get(model, {}).get("macs", 50_000_000)
                p50 = 2e-6 * macs ** 0.8 * FAMILY_OVERHEAD.get(family, 1.0) * batch ** 0.9 * rng.uniform(0.85, 1.15)
                half = p50 * rng.uniform(0.004, 0.03)
                rows.append(dict(
                    run_id=run_id, model=model, family=family, target=target, batch=batch, dtype="fp32",
                    layout="nchw", impl=impl, threads=2, compile=False, status="ok", message="",
                    p50_ms=p50, p90_ms=p50 * 1.05, p99_ms=p50 * 1.12, mean_ms=p50 * 1.01, iqr_ms=p50 * 0.03,
                    ci_low_ms=p50 - half, ci_high_ms=p50 + half, samples=200, warmup_iters=5,
                    stop_reason="ci", macs=macs, params=costs.get(model, {}).get("params", 1_000_000),
                    created_at=created_at, machine=machine, run_created_at=created_at))
    runs = pd.DataFrame([dict(run_id=run_id, created_at=created_at, git_commit="0123456789abcdef", target=target,
                              fingerprint=json.dumps(fingerprint(target, arch)), settings=json.dumps({"ci": 0.01}))])
    return pd.DataFrame(rows), runs


def with_failed_and_unknown(results: pd.DataFrame) -> pd.DataFrame:
    """Replace resnet110_cifar by an OOM cell and add a model the zoo does not know."""
    base = results.iloc[0].to_dict()
    oom = dict(base, model="resnet110_cifar", family="resnet_cifar", status="oom", message="out of memory",
               p50_ms=None, p90_ms=None, p99_ms=None, mean_ms=None, iqr_ms=None, ci_low_ms=None, ci_high_ms=None)
    unknown = dict(base, model="my_pruned_net", family="derived", p50_ms=base["p50_ms"] * 0.5,
                   p90_ms=base["p50_ms"] * 0.55, ci_low_ms=base["ci_low_ms"] * 0.5, ci_high_ms=base["ci_high_ms"] * 0.5)
    frame = results[results["model"] != "resnet110_cifar"]
    return pd.concat([frame, pd.DataFrame([oom, unknown])], ignore_index=True)


def one_slice(results, runs, **kw):
    from bench.report.data import build_slices

    slices = build_slices(results, runs, **kw)
    assert len(slices) == 1
    return slices[0]


def row_of(s, model):
    rows = s.rows[s.rows["model"] == model]
    assert len(rows) == 1, model
    return rows.iloc[0]


# --- data: latest row per cell, accuracy join, labels ---------------------------------------------

def test_latest_row_per_cell_wins():
    old, runs_old = synthetic_frames(SMALL_MODELS, run_id="old", created_at="2026-11-20T10:00:00+00:00")
    new, runs_new = synthetic_frames(SMALL_MODELS, run_id="new", created_at="2026-11-21T10:00:00+00:00", seed=7)
    s = one_slice(pd.concat([new, old]), pd.concat([runs_old, runs_new]))
    assert len(s.rows) == len(SMALL_MODELS)
    assert set(s.rows["run_id"]) == {"new"}
    expected = new.set_index("model")["p50_ms"]
    for _, r in s.rows.iterrows():
        assert r["p50_ms"] == pytest.approx(expected[r["model"]])


def test_accuracy_joined_from_zoo_with_source_kind():
    import zoo

    s = one_slice(*synthetic_frames(SMALL_MODELS))
    p4 = row_of(s, "vgg16_cifar_p4")
    assert p4["top1"] == pytest.approx(zoo.get_meta("vgg16_cifar_p4").reported.top1)
    assert p4["top1_kind"] == "paper" and p4["dataset"] == "cifar10"
    assert row_of(s, "resnet18")["top1_kind"] == "torchvision metadata"
    se = row_of(s, "vgg16_cifar_p4_se")
    assert pd.isna(se["top1"]) and "no reported cifar10 top-1" in se["no_accuracy_reason"]


def test_unknown_model_and_failed_cell_stay_in_rows():
    results, runs = synthetic_frames(FIXTURE_MODELS)
    s = one_slice(with_failed_and_unknown(results), runs)
    assert row_of(s, "my_pruned_net")["no_accuracy_reason"] == "not registered in this zoo"
    oom = row_of(s, "resnet110_cifar")
    assert oom["status"] == "oom" and "resnet110_cifar" not in set(s.measured()["model"])


def test_labels_name_settings_only_where_a_model_has_several_rows():
    results, runs = synthetic_frames({"vgg16_cifar_p4": "vgg_cifar", "vgg16_cifar": "vgg_cifar"},
                                     impls=("grouped", "masked"))
    results = results[~((results["model"] == "vgg16_cifar") & (results["impl"] == "masked"))]
    s = one_slice(results, runs)
    assert sorted(s.rows["label"]) == ["vgg16_cifar", "vgg16_cifar_p4 [grouped]", "vgg16_cifar_p4 [masked]"]


def test_target_and_batch_filters_and_slices_per_batch():
    from bench.report.data import build_slices

    cpu, runs_cpu = synthetic_frames(SMALL_MODELS, batches=(1, 8))
    mob, runs_mob = synthetic_frames(SMALL_MODELS, target="mobile", run_id="run-m")
    results, runs = pd.concat([cpu, mob]), pd.concat([runs_cpu, runs_mob])
    assert [(s.target, s.batch) for s in build_slices(results, runs)] == [("cpu", 1), ("cpu", 8), ("mobile", 1)]
    assert [(s.target, s.batch) for s in build_slices(results, runs, target="cpu", batch=8)] == [("cpu", 8)]
    assert build_slices(results, runs, target="cuda") == []


# --- baselines and speed-ups -----------------------------------------------------------------------

@pytest.mark.parametrize("model,baseline", [
    ("vgg16_cifar_p4_se", "vgg16_cifar"), ("vgg16_cifar_p2", "vgg16_cifar"), ("resnet56_cifar_p2", "resnet56_cifar"),
    ("mobilenet_cifar_p32", "mobilenet_cifar"), ("resnet50_p4", "resnet50"),
    ("shufflenet_v2_x0_5", "shufflenet_v2_x1_0"), ("vgg16_cifar", "vgg16_cifar"), ("resnet18", None),
    ("resnet20_cifar", None)])
def test_family_baseline_rule(model, baseline):
    s = one_slice(*synthetic_frames(FIXTURE_MODELS))
    r = row_of(s, model)
    assert (None if pd.isna(r["baseline"]) else r["baseline"]) == baseline
    if baseline is None:
        assert pd.isna(r["speedup"])
    else:
        expected = row_of(s, baseline)["p50_ms"] / r["p50_ms"]
        assert r["speedup"] == pytest.approx(expected)


def test_baseline_never_crosses_datasets():
    from bench.report.baseline import baseline_name

    # vgg16 (ImageNet) is a name prefix of vgg16_cifar_p4 but measured on another dataset
    measured = {"vgg16": "imagenet", "vgg16_cifar": "cifar10"}
    assert baseline_name("vgg16_cifar_p4", "cifar10", measured) == "vgg16_cifar"
    assert baseline_name("vgg16_cifar_p4", "cifar10", {"vgg16": "imagenet"}) is None
    assert baseline_name("resnet56_cifar_pruned_a", "cifar10", {"resnet20_cifar": "cifar10"},
                         parent="resnet20_cifar") == "resnet20_cifar"


def test_speedup_matches_settings_and_prefers_same_impl():
    results, runs = synthetic_frames({"vgg16_cifar": "vgg_cifar", "vgg16_cifar_p4": "vgg_cifar"},
                                     impls=("grouped", "masked"))
    s = one_slice(results, runs)
    for _, r in s.rows[s.rows["model"] == "vgg16_cifar_p4"].iterrows():
        base = s.rows[(s.rows["model"] == "vgg16_cifar") & (s.rows["impl"] == r["impl"])].iloc[0]
        assert r["speedup"] == pytest.approx(base["p50_ms"] / r["p50_ms"])


# --- fronts and rank comparison ----------------------------------------------------------------------

def test_front_flags_match_pareto_module_per_dataset():
    results, runs = synthetic_frames(FIXTURE_MODELS)
    s = one_slice(with_failed_and_unknown(results), runs)
    ok = s.measured()
    for dataset in ("cifar10", "imagenet"):
        group = ok[(ok["dataset"] == dataset) & ok["top1"].notna()]
        pts = [FrontPoint(r["model"], r["top1"], r["p50_ms"], r["ci_low_ms"], r["ci_high_ms"])
               for _, r in group.iterrows()]
        assert set(group.loc[group["on_front"].astype(bool), "model"]) == set(non_dominated(pts))
        assert set(group.loc[group["on_front_ci"].astype(bool), "model"]) == set(non_dominated(pts, ci_ties=True))
    no_acc = s.rows[s.rows["top1"].isna()]
    assert len(no_acc) > 0 and no_acc["on_front"].isna().all()


def test_rank_comparison_finds_the_swapped_variant():
    from bench.report.fronts import rank_comparison

    macs = [10, 20, 30, 40, 50, 60, 70, 80]
    p50 = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    p50[0] = 9.0  # the fewest-MACs model is the slowest
    df = pd.DataFrame({"label": [f"m{i}" for i in range(8)], "macs": macs, "p50_ms": p50, "status": "ok"})
    ranks = rank_comparison(df, top=1)
    from scipy.stats import spearmanr

    assert ranks.rho == pytest.approx(spearmanr(macs, p50)[0])
    assert ranks.outliers.iloc[0]["label"] == "m0" and ranks.outliers.iloc[0]["rank_shift"] == 7
    assert "not defined" in rank_comparison(df.head(2)).summary()


# --- provenance and titles ----------------------------------------------------------------------------

def test_mobile_on_x86_is_labelled_xnnpack_on_host_never_arm():
    s = one_slice(*synthetic_frames(SMALL_MODELS, target="mobile"))
    label = s.provenance.target_label()
    assert f"XNNPACK on {HOST_CPU} (x86_64)" in label and "ARM" not in label
    assert s.provenance.versions["executorch"] == "1.5.1"


def test_mobile_on_aarch64_names_the_arm_host():
    s = one_slice(*synthetic_frames(SMALL_MODELS, target="mobile", arch="aarch64"))
    assert s.provenance.target_label().endswith("(aarch64)") and s.provenance.is_arm()


def test_machine_slug_is_folder_safe():
    from bench.report.writer import machine_slug

    assert machine_slug(HOST_CPU, "x86_64") == "intel-xeon-platinum-8375c-x86-64"
    assert machine_slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert re.fullmatch(r"[a-z0-9-]+", machine_slug("AMD EPYC 7763 64-Core Processor", "x86_64"))


# --- label placement ----------------------------------------------------------------------------------

def test_labels_of_a_dense_cluster_do_not_overlap():
    from bench.report.charts import _new_figure
    from bench.report.labels import LabelSpec, count_overlaps, label_boxes, place_labels

    fig, ax = _new_figure()
    rng = random.Random(1)
    pts = [(10 + rng.uniform(0, 3), 90 + rng.uniform(0, 1)) for _ in range(12)]
    ax.scatter(*zip(*pts))
    ax.set_xlim(0, 40)
    ax.set_ylim(85, 95)
    fig.tight_layout()
    labels = place_labels(ax, [LabelSpec(x, y, f"variant_{i}_label") for i, (x, y) in enumerate(pts)]).annotations
    boxes = label_boxes(labels)
    assert len(boxes) == 12 and count_overlaps(boxes) == 0
    frame = ax.get_window_extent()
    assert all(frame.x0 - 1 <= b[0] and b[2] <= frame.x1 + 1 and frame.y0 - 1 <= b[1] and b[3] <= frame.y1 + 1
               for b in boxes)


# --- written files ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A report of the full cpu fixture (with a failed cell and an unknown model), written once."""
    from bench.report.writer import write_reports

    cpu, runs_cpu = synthetic_frames(FIXTURE_MODELS)
    out = tmp_path_factory.mktemp("reports")
    slices = write_reports(with_failed_and_unknown(cpu), runs_cpu, out)
    return out, {w.slice.target: w for w in slices}


EXPECTED_FILES = {"README.md", "results.csv", "report.html", "accuracy-vs-latency-cifar10.png",
                  "accuracy-vs-macs-cifar10.png", "accuracy-vs-latency-imagenet.png", "accuracy-vs-macs-imagenet.png",
                  "latency-vs-macs.png"}


def test_every_expected_file_is_written(written):
    out, by_target = written
    cpu = by_target["cpu"]
    assert cpu.folder == out / "cpu-intel-xeon-platinum-8375c-x86-64" / "batch-1"
    assert {p.name for p in cpu.folder.iterdir()} == EXPECTED_FILES
    assert (cpu.folder.parent / "README.md").is_file()  # per target/machine index
    for png in cpu.folder.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_csv_has_one_row_per_cell_with_flags(written):
    _, by_target = written
    cpu = by_target["cpu"]
    rows = list(csv.DictReader(io.StringIO((cpu.folder / "results.csv").read_text())))
    expected_models = (set(FIXTURE_MODELS) | {"my_pruned_net"})
    assert {r["model"] for r in rows} == expected_models and len(rows) == len(expected_models)
    by_model = {r["model"]: r for r in rows}
    assert by_model["resnet110_cifar"]["status"] == "oom" and by_model["resnet110_cifar"]["p50_ms"] == ""
    assert by_model["vgg16_cifar"]["on_front"] == "True"  # the most accurate CIFAR variant is always on the front
    assert by_model["vgg16_cifar_p4_se"]["on_front"] == "" and by_model["vgg16_cifar_p4_se"]["top1"] == ""
    assert by_model["vgg16_cifar_p2"]["baseline"] == "vgg16_cifar"
    for r in rows:  # every row states machine, versions and date
        assert r["machine"].startswith(HOST_CPU) and "torch 2.14.1" in r["versions"]
        assert r["measured_on"] == "2026-11-22"


def test_markdown_table_and_no_accuracy_list(written):
    _, by_target = written
    text = (by_target["cpu"].folder / "README.md").read_text()
    table = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table) == 1 + len(FIXTURE_MODELS) + 1  # header + models + my_pruned_net
    no_acc = text.split("## No accuracy", 1)[1].split("##", 1)[0]
    listed = set(re.findall(r"^- (\S+):", no_acc, re.MULTILINE))
    assert listed == {"vgg16_cifar_p4_se", "vgg16_cifar_pc", "resnet56_cifar_p2", "resnet56_cifar_p4",
                      "mobilenet_cifar", "mobilenet_cifar_p32", "my_pruned_net"}
    for needle in (HOST_CPU, "torch 2.14.1", "2026-11-22", "accuracy-vs-latency-cifar10.png", "resnet110_cifar: oom"):
        assert needle in text


def test_models_without_accuracy_are_not_in_accuracy_charts():
    from bench.report.charts import slice_charts

    results, runs = synthetic_frames(SMALL_MODELS)
    s = one_slice(with_failed_and_unknown(results), runs)
    charts, _ = slice_charts(s.rows, s.datasets_with_accuracy(), s.provenance, s.batch)
    for chart in charts:
        texts = {line for a in chart.labels for line in a.get_text().split("\n")}
        if chart.stem.startswith("accuracy-vs-"):
            assert "vgg16_cifar_p4_se" not in texts and "my_pruned_net" not in texts
            assert "resnet110_cifar" not in texts  # failed cell: no latency
        else:
            assert {"vgg16_cifar_p4_se", "my_pruned_net"} <= texts


def without_scripts(html: str) -> str:
    """The page with its inline <script> blocks (plotly.js, the table script) cut out: the page's own text."""
    return re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.S)


def test_html_is_self_contained(written):
    _, by_target = written
    html = (by_target["cpu"].folder / "report.html").read_text()
    assert not re.search(r"<script[^>]*\bsrc=", html)  # every script is inline (plotly.js included)
    html = without_scripts(html)
    assert html.count('src="data:image/png;base64,') == 5
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html and "@import" not in html
    for needle in (HOST_CPU, "torch 2.14.1", "2026-11-22", "my_pruned_net: not registered in this zoo"):
        assert needle in html


def test_mobile_pages_say_xnnpack_on_host_and_never_arm():
    from bench.report.fronts import rank_comparison
    from bench.report.html import html_page
    from bench.report.markdown import markdown_page
    from bench.report.tables import csv_text
    from bench.report.writer import target_folder

    s = one_slice(*synthetic_frames(SMALL_MODELS, target="mobile"))
    assert target_folder(Path("out"), s) == Path("out/mobile-intel-xeon-platinum-8375c-x86-64")
    ranks = rank_comparison(s.rows)
    pages = {"md": markdown_page(s, [], ranks), "html": without_scripts(html_page(s, [], ranks)), "csv": csv_text(s)}
    for kind, text in pages.items():
        assert "ARM" not in text.replace("these are not ARM latencies", ""), kind
    for kind in ("md", "html"):
        assert f"XNNPACK on {HOST_CPU} (x86_64)" in pages[kind]
        assert "executorch 1.5.1" in pages[kind] and "2026-11-22" in pages[kind]


def test_chart_titles_name_target_machine_and_date_and_labels_do_not_overlap():
    from bench.report.charts import slice_charts
    from bench.report.labels import count_overlaps, label_boxes

    results, runs = synthetic_frames(FIXTURE_MODELS, target="mobile")
    s = one_slice(results, runs)
    charts, ranks = slice_charts(s.rows, s.datasets_with_accuracy(), s.provenance, s.batch)
    assert [c.stem for c in charts] == ["accuracy-vs-latency-cifar10", "accuracy-vs-macs-cifar10",
                                        "accuracy-vs-latency-imagenet", "accuracy-vs-macs-imagenet", "latency-vs-macs"]
    for chart in charts:
        assert f"XNNPACK on {HOST_CPU} (x86_64)" in chart.title and "2026-11-22" in chart.title
        assert "ARM" not in chart.title
        assert count_overlaps(label_boxes(chart.labels)) == 0, chart.stem
        names = [line for a in chart.labels for line in a.get_text().split("\n") if not line.endswith("ranks)")]
        ok = s.measured()
        if chart.stem == "latency-vs-macs":
            # every point is labelled or counted as left out; the called-out variants always are labelled
            assert len(names) + chart.omitted_labels == len(ok) and set(names) <= set(ok["label"])
            assert set(ranks.outliers["label"]) <= set(names)
        else:  # accuracy charts: every point labelled
            expected = ok.loc[(ok["dataset"] == chart.stem.rsplit("-", 1)[1]) & ok["top1"].notna(), "label"]
            assert chart.omitted_labels == 0 and sorted(names) == sorted(expected), chart.stem


@pytest.mark.slow
def test_rewrite_removes_stale_charts(tmp_path):
    from bench.report.writer import write_reports

    results, runs = synthetic_frames({m: SMALL_MODELS[m] for m in ("vgg16_cifar", "vgg16_cifar_p4", "resnet18")})
    first = write_reports(results, runs, tmp_path)[0]
    assert (first.folder / "accuracy-vs-latency-imagenet.png").exists()
    cifar_only = results[results["model"].str.contains("cifar")]
    second = write_reports(cifar_only, runs, tmp_path)[0]
    assert not (second.folder / "accuracy-vs-latency-imagenet.png").exists()
    assert (second.folder / "accuracy-vs-latency-cifar10.png").exists()


# --- CLI ----------------------------------------------------------------------------------------------

def test_cli_missing_database_is_one_line_exit_2(tmp_path, capsys):
    db = tmp_path / "nope.sqlite"
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no results database" in err
    assert not db.exists() and not (tmp_path / "out").exists()


def test_cli_empty_database_is_one_line_exit_2(tmp_path, capsys):
    store = pytest.importorskip("bench.store")
    db = tmp_path / "empty.sqlite"
    store.ResultStore(db)  # creates the schema, no results
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds no results" in err


def test_cli_bad_batch_and_unknown_target(tmp_path, capsys, monkeypatch):
    import bench.report.source as source

    with pytest.raises(SystemExit) as exc:
        main(["report", "--batch", "zero"])
    assert exc.value.code == 2
    results, runs = synthetic_frames(SMALL_MODELS)
    monkeypatch.setattr(source, "load_frames", lambda db: (results, runs))
    capsys.readouterr()
    assert main(["report", "--target", "cuda", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "targets present: cpu" in err
    assert main(["report", "--batch", "8", "--out", str(tmp_path)]) == 2
    assert "batches present: 1" in capsys.readouterr().err


def test_cli_writes_report_and_prints_folders(tmp_path, capsys, monkeypatch):
    import bench.report.source as source

    results, runs = synthetic_frames({m: SMALL_MODELS[m] for m in ("vgg16_cifar", "vgg16_cifar_p4", "resnet18")})
    monkeypatch.setattr(source, "load_frames", lambda db: (results, runs))
    assert main(["report", "--out", str(tmp_path), "--target", "cpu", "--batch", "1"]) == 0
    out = capsys.readouterr().out
    assert "cpu-intel-xeon-platinum-8375c-x86-64/batch-1: 3 results (3 measured)" in out
    assert (tmp_path / "cpu-intel-xeon-platinum-8375c-x86-64" / "batch-1" / "report.html").is_file()


def test_cli_reads_a_real_result_store(tmp_path, capsys):
    """Synthetic stats written through ResultStore.add_result, then `bench report --db` end to end."""
    store_mod = pytest.importorskip("bench.store")
    from bench.stats import LatencyStats

    results, _ = synthetic_frames({m: SMALL_MODELS[m] for m in ("vgg16_cifar", "vgg16_cifar_p4", "resnet18")},
                                  target="mobile")
    db = tmp_path / "results.sqlite"
    with store_mod.ResultStore(db) as store:
        run_id = store.start_run("mobile", fingerprint("mobile"), {"ci": 0.01}, git_commit="0123456789abcdef")
        for _, r in results.iterrows():
            cell = dict(model=r["model"], batch=1, dtype="fp32", layout="nchw",
                        impl="grouped" if r["model"] == "vgg16_cifar_p4" else None, threads=2, compile=False)
            stats = LatencyStats(*(float(r[c]) for c in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "iqr_ms",
                                                         "ci_low_ms", "ci_high_ms")), samples=200)
            store.add_result(run_id, cell, stats, [r["p50_ms"]] * 3, {"macs": r["macs"], "params": r["params"]},
                             family=r["family"])
        store.add_result(run_id, dict(model="resnet20_cifar", batch=1, dtype="fp32", layout="nchw", impl=None,
                                      threads=2, compile=False), None, None, None, status="unsupported",
                         message="op not lowered", family="resnet_cifar")
    out = tmp_path / "out"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    assert "4 results (3 measured)" in capsys.readouterr().out
    [folder] = [p for p in out.iterdir() if p.is_dir() and p.name != "views"]  # views/: the site's views
    assert folder.name.startswith("mobile-intel-xeon-platinum-8375c-x86-64")
    text = (folder / "batch-1" / "README.md").read_text()
    assert f"XNNPACK on {HOST_CPU} (x86_64)" in text and "executorch 1.5.1" in text
    assert "resnet20_cifar: unsupported (op not lowered)" in text
    assert "1.00× (baseline)" in text and "× vs vgg16_cifar" in text


def test_compression_table_compares_each_compressed_variant_with_its_parent(tmp_path):
    from bench.report.tables import compression_rows

    models = {"resnet56_cifar": "resnet_cifar", "resnet56_cifar_pruned_a": "resnet_cifar",
              "resnet56_cifar_lowrank50": "resnet_cifar", "vgg16_cifar_pruned_a": "vgg_cifar"}
    results, runs = synthetic_frames(models)
    s = one_slice(results, runs)
    rows = {r["variant"]: r for r in compression_rows(s)}
    # vgg16_cifar_pruned_a's parent (vgg16_cifar) was not measured in this slice: no row
    assert set(rows) == {"resnet56_cifar_pruned_a", "resnet56_cifar_lowrank50"}
    child, parent = row_of(s, "resnet56_cifar_pruned_a"), row_of(s, "resnet56_cifar")
    r = rows["resnet56_cifar_pruned_a"]
    assert r["parent"] == "resnet56_cifar"
    assert r["MACs saved"] == f"{1 - child['macs'] / parent['macs']:.1%}"
    assert r["latency saved (p50)"] == f"{1 - child['p50_ms'] / parent['p50_ms']:.1%}"
