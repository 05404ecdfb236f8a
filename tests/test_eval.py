"""`bench eval` on real images offline: scikit-learn's digits as CIFAR python batches and as an ImageFolder.

Fast tests use checkpoints whose classifier answers a fixed class ranking whatever the image
(final linear layer: zero weight, a bias that ranks the classes), so the expected top-1/top-5
are the shares of those classes in the data, counted here from the labels. The slow tests
train a small CIFAR zoo model on the digits inside the test (see the bottom of the file).
"""
from __future__ import annotations

import json
import pickle
import sqlite3

import numpy as np
import pytest
import torch
from scipy.stats import binomtest

from bench.accuracy.metrics import clopper_pearson, mcnemar_exact
from bench.cli import main
from digits_data import digits_images, write_cifar, write_imagefolder

MODEL = "resnet20_cifar"


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """Held-out digits written both ways, plus their labels."""
    root = tmp_path_factory.mktemp("digits")
    splits = digits_images()
    write_cifar(root / "cifar", splits)
    write_imagefolder(root / "folder", *splits["test"])
    return dict(root=root, cifar=f"cifar10:{root / 'cifar'}", folder=f"imagefolder:{root / 'folder'}",
                labels=splits["test"][1])


def ranked_checkpoint(path, ranking: list[int], prefix: str = "") -> list[int]:
    """Save a MODEL state_dict whose logits rank classes as `ranking` (best first) for every input."""
    import zoo

    model = zoo.get_model(MODEL)
    fc = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    bias = torch.full((10,), -100.0)
    for rank, cls in enumerate(ranking):
        bias[cls] = 10.0 - rank
    with torch.no_grad():
        fc.weight.zero_()
        fc.bias.copy_(bias)
    torch.save({prefix + k: v for k, v in model.state_dict().items()}, path)
    return ranking


def spread(labels: np.ndarray, limit: int) -> np.ndarray:
    """The labels of the `--limit` subset as documented: `limit` images evenly spaced over the data."""
    return labels[[i * len(labels) // limit for i in range(limit)]]


def eval_json(capsys, *args) -> dict:
    assert main(["eval", *args, "--workers", "0", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


# --- statistics against scipy ---------------------------------------------------------------------

@pytest.mark.parametrize("k,n", [(0, 10), (10, 10), (92, 899), (1, 2), (1700, 1797)])
def test_clopper_pearson_matches_scipy_binomtest(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    got = clopper_pearson(k, n)
    assert got.low == pytest.approx(ci.low, abs=1e-12) and got.high == pytest.approx(ci.high, abs=1e-12)


def test_mcnemar_counts_discordant_pairs_and_matches_binomtest():
    rng = np.random.default_rng(1)
    a = rng.random(500) < 0.8
    b = rng.random(500) < 0.7
    only_a = sum(1 for x, y in zip(a, b) if x and not y)
    only_b = sum(1 for x, y in zip(a, b) if y and not x)
    res = mcnemar_exact(a, b)
    assert (res.only_a, res.only_b) == (only_a, only_b)
    assert res.p_value == pytest.approx(binomtest(only_a, only_a + only_b, 0.5).pvalue)
    assert mcnemar_exact(a, a).p_value == 1.0


# --- a one-class classifier: top-1 is that class's share --------------------------------------------

def test_constant_classifier_top1_is_class_share_with_exact_interval(digits, tmp_path, capsys):
    ranking = ranked_checkpoint(tmp_path / "c3.pt", [3, 7, 0, 5, 9, 1, 2, 4, 6, 8])
    labels = digits["labels"]
    out = eval_json(capsys, MODEL, "--checkpoint", str(tmp_path / "c3.pt"), "--data", digits["cifar"])
    rec, = out["records"]
    k1 = int((labels == 3).sum())
    k5 = int(np.isin(labels, ranking[:5]).sum())
    assert (rec["n"], rec["top1_correct"], rec["top5_correct"]) == (len(labels), k1, k5)
    assert rec["top1"] == k1 / len(labels)
    exact = binomtest(k1, len(labels)).proportion_ci(method="exact")
    assert rec["top1_low"] == pytest.approx(exact.low, abs=1e-12)
    assert rec["top1_high"] == pytest.approx(exact.high, abs=1e-12)
    assert rec["target"] == "cpu" and rec["image_limit"] == 0 and len(rec["dataset_fingerprint"]) == 64


def test_imagefolder_paired_mcnemar_and_prefix_stripped(digits, tmp_path, capsys):
    ranked_checkpoint(tmp_path / "a.pt", [3, 0, 1, 2, 4, 5, 6, 7, 8, 9], prefix="module.")
    ranked_checkpoint(tmp_path / "b.pt", [5, 0, 1, 2, 3, 4, 6, 7, 8, 9])
    assert main(["eval", MODEL, MODEL, "--checkpoint", str(tmp_path / "a.pt"), "--checkpoint", str(tmp_path / "b.pt"),
                 "--data", digits["folder"], "--workers", "0", "--limit", "200"]) == 0
    text = capsys.readouterr().out
    assert "'module.' prefix stripped" in text
    labels = spread(np.sort(digits["labels"], kind="stable"), 200)  # ImageFolder lists images class by class
    n3, n5 = int((labels == 3).sum()), int((labels == 5).sum())
    p = binomtest(n3, n3 + n5, 0.5).pvalue
    assert f"{n3} right only by {MODEL} (a.pt), {n5} only by {MODEL} (b.pt); exact McNemar p = {p:.3g}" in text


def test_limit_takes_the_same_spread_subset_and_fingerprints_differ(digits, tmp_path, capsys):
    ranked_checkpoint(tmp_path / "c.pt", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    cifar = eval_json(capsys, MODEL, "--checkpoint", str(tmp_path / "c.pt"), "--data", digits["cifar"],
                      "--limit", "60")["records"][0]
    folder = eval_json(capsys, MODEL, "--checkpoint", str(tmp_path / "c.pt"), "--data", digits["folder"],
                       "--limit", "60")["records"][0]
    assert cifar["n"] == folder["n"] == 60 and cifar["image_limit"] == 60
    # the folder is ordered by class: an evenly spread subset still holds every class
    assert 0 < folder["top1_correct"] < 60
    assert cifar["dataset_fingerprint"] != folder["dataset_fingerprint"]


def test_results_stored_keyed_and_replaced(digits, tmp_path, capsys):
    ranked_checkpoint(tmp_path / "c.pt", [3, 0, 1, 2, 4, 5, 6, 7, 8, 9])
    db = tmp_path / "r.sqlite"
    for _ in range(2):
        assert main(["eval", MODEL, "--checkpoint", str(tmp_path / "c.pt"), "--data", digits["cifar"],
                     "--workers", "0", "--limit", "60", "--db", str(db)]) == 0
    rows = sqlite3.connect(db).execute("SELECT model, target, n, top1_correct, checkpoint_sha256 FROM accuracy").fetchall()
    import hashlib

    sha = hashlib.sha256((tmp_path / "c.pt").read_bytes()).hexdigest()
    assert rows == [(MODEL, "cpu", 60, int((spread(digits["labels"], 60) == 3).sum()), sha)]


# --- errors: one line, exit 2 -------------------------------------------------------------------------

def _bad_pickle(folder):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "cifar-10-batches-py").mkdir(parents=True)
    (folder / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(Evil()))
    (folder / "cifar-10-batches-py" / "batches.meta").write_bytes(pickle.dumps({"label_names": list("abc")}))
    return f"cifar10:{folder}"


@pytest.mark.parametrize("case", ["missing_dir", "no_batches", "garbage_batch", "code_in_pickle", "bad_kind",
                                  "class_count", "other_architecture", "corrupt_checkpoint", "limit_zero",
                                  "checkpoint_count"])
def test_errors_are_one_line_exit_2(case, digits, tmp_path, capsys):
    import zoo

    good = tmp_path / "good.pt"
    ranked_checkpoint(good, list(range(10)))
    data, ck, extra = digits["cifar"], str(good), []
    if case == "missing_dir":
        data = f"cifar10:{tmp_path / 'nope'}"
    elif case == "no_batches":
        data = f"cifar10:{tmp_path}"
    elif case == "garbage_batch":
        (tmp_path / "g").mkdir()
        (tmp_path / "g" / "test_batch").write_bytes(b"not a pickle")
        (tmp_path / "g" / "batches.meta").write_bytes(b"x")
        data = f"cifar10:{tmp_path / 'g'}"
    elif case == "code_in_pickle":
        data = _bad_pickle(tmp_path / "evil")
    elif case == "bad_kind":
        data = f"mnist:{tmp_path}"
    elif case == "class_count":
        import shutil

        for c in ("0", "1", "2"):
            shutil.copytree(digits["root"] / "folder" / c, tmp_path / "three" / c)
        data = f"imagefolder:{tmp_path / 'three'}"
    elif case == "other_architecture":
        torch.save(zoo.get_model("resnet32_cifar").state_dict(), tmp_path / "r32.pt")
        ck = str(tmp_path / "r32.pt")
    elif case == "corrupt_checkpoint":
        (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:4000])
        ck = str(tmp_path / "cut.pt")
    elif case == "limit_zero":
        extra = ["--limit", "0"]
    elif case == "checkpoint_count":
        extra = ["--checkpoint", ck]
    assert main(["eval", MODEL, "--checkpoint", ck, "--data", data, "--workers", "0", *extra]) == 2
    captured = capsys.readouterr()
    assert "pwned" not in captured.out
    err = captured.err.strip()
    assert err.startswith("bench: error:") and "\n" not in err
    expected = {"class_count": "predicts 10 classes but", "other_architecture": "does not fit model",
                "corrupt_checkpoint": "corrupt or not a weights file", "limit_zero": "--limit",
                "code_in_pickle": "not allowed"}
    if case in expected:
        assert expected[case] in err


def test_deploy_form_checkpoint_is_accepted(digits, tmp_path, capsys):
    import zoo

    ranked_checkpoint(tmp_path / "train.pt", [4, 0, 1, 2, 3, 5, 6, 7, 8, 9])
    model = zoo.get_model(MODEL)
    model.load_state_dict(torch.load(tmp_path / "train.pt", weights_only=True))
    torch.save(zoo.deploy_form(model).state_dict(), tmp_path / "deploy.pt")
    rec = eval_json(capsys, MODEL, "--checkpoint", str(tmp_path / "deploy.pt"), "--data", digits["cifar"],
                    "--limit", "50")["records"][0]
    assert rec["extra"]["checkpoint_form"] == "deploy"
    assert rec["top1_correct"] == int((spread(digits["labels"], 50) == 4).sum())


# --- measured accuracy in reports ---------------------------------------------------------------------

def test_report_uses_measured_accuracy_and_marks_it(tmp_path):
    from test_report import SMALL_MODELS, synthetic_frames

    from bench.accuracy.store import AccuracyRecord, accuracy_frame, attach_measured, save_accuracy
    from bench.report.charts import accuracy_chart, family_colors
    from bench.report.data import build_slices

    models = dict(SMALL_MODELS, resnet20_cifar="resnet_cifar")
    results, runs = synthetic_frames(models)
    conn = sqlite3.connect(tmp_path / "acc.sqlite")
    ci = clopper_pearson(800, 899)
    save_accuracy(conn, AccuracyRecord(
        model=MODEL, checkpoint_sha256="ab" * 32, checkpoint="ck.pt", data="cifar10:/d", data_kind="cifar10",
        dataset_fingerprint="cd" * 32, target="cpu", image_limit=0, n=899, top1_correct=800, top1=800 / 899,
        top1_low=ci.low, top1_high=ci.high, top5_correct=890, top5=890 / 899, top5_low=0.98, top5_high=0.995),
        "2026-11-22T10:00:00+00:00")
    s, = build_slices(attach_measured(results, accuracy_frame(conn)), runs)
    by_model = s.rows.set_index("model")
    assert by_model.loc[MODEL, "top1_kind"] == "measured"
    assert by_model.loc[MODEL, "top1"] == pytest.approx(100 * 800 / 899)
    assert "n=899" in by_model.loc[MODEL, "top1_source"]
    assert by_model.loc["resnet56_cifar", "top1_kind"] == "paper"
    chart = accuracy_chart(s.rows, "cifar10", "latency", s.provenance, 1, family_colors(sorted(s.rows["family"])))
    ax = chart.figure.axes[0]
    assert "measured + reported" in ax.get_ylabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else \
        [t.get_text() for lg in chart.figure.legends for t in lg.get_texts()]
    assert "measured top-1 (bench eval)" in legend and "reported top-1 (paper/metadata)" in legend


# --- slow: a model trained here on the digits ---------------------------------------------------------

def train_digits_model(train: tuple[np.ndarray, np.ndarray], epochs: int = 4, seed: int = 0) -> torch.nn.Module:
    """The training script: MODEL trained with Adam on the digits' training split, CIFAR normalisation."""
    import zoo
    from bench.accuracy.data import CIFAR_MEAN, CIFAR_STD

    torch.manual_seed(seed)
    model = zoo.get_model(MODEL).train()
    x = normalise(train[0], CIFAR_MEAN, CIFAR_STD)
    y = torch.as_tensor(train[1])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(y)).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def normalise(images: np.ndarray, mean, std) -> torch.Tensor:
    """N x H x W x 3 uint8 -> N x 3 x H x W float, (x / 255 - mean) / std (what the training script feeds)."""
    x = torch.as_tensor(images).permute(0, 3, 1, 2).float() / 255.0
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def own_count(model: torch.nn.Module, test: tuple[np.ndarray, np.ndarray]) -> int:
    """The training script's own held-out top-1 count (its own tensors, no bench code)."""
    from bench.accuracy.data import CIFAR_MEAN, CIFAR_STD

    with torch.no_grad():
        pred = model(normalise(test[0], CIFAR_MEAN, CIFAR_STD)).argmax(1).numpy()
    return int((pred == test[1]).sum())


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    model = train_digits_model(digits_images()["train"])
    path = tmp_path_factory.mktemp("trained") / "digits_resnet20.pt"
    torch.save(model.state_dict(), path)
    return path, own_count(model, digits_images()["test"])


@pytest.mark.slow
def test_trained_model_eval_reproduces_training_count(digits, trained, capsys):
    path, count = trained
    n = len(digits["labels"])
    assert count > 0.6 * n  # well above chance (10 %)
    for data in (digits["cifar"], digits["folder"]):
        rec, = eval_json(capsys, MODEL, "--checkpoint", str(path), "--data", data)["records"]
        assert (rec["n"], rec["top1_correct"]) == (n, count)


@pytest.mark.slow
@pytest.mark.mobile
def test_trained_model_pte_agrees_with_eager(digits, trained, capsys):
    from devices.mobile import executorch_version

    if executorch_version() is None:
        pytest.skip("executorch not installed (pip install -e '.[mobile]')")
    path, count = trained
    recs = eval_json(capsys, MODEL, "--checkpoint", str(path), "--data", digits["cifar"], "--device", "mobile",
                     "--batch", "128")["records"]
    eager, = [r for r in recs if r["target"] == "cpu"]
    mobile, = [r for r in recs if r["target"] == "mobile"]
    assert eager["top1_correct"] == count
    assert mobile["n"] == eager["n"]
    # fp32 XNNPACK vs eager: at most one near-tie may flip among ~900 images
    assert abs(mobile["top1_correct"] - count) <= 1
    assert mobile["extra"]["drift_only_pte"] + mobile["extra"]["drift_only_eager"] <= 1
    assert mobile["extra"]["top1_drift"] == pytest.approx((mobile["top1_correct"] - count) / eager["n"])
