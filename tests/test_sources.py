"""Model sources (timm:, tv:, PATH.py:NAME, PATH.pt2): resolution, recorded source, errors (one line, exit 2)."""
import hashlib
import json
import sqlite3

import pytest
import torch

from bench.cli import main
from zoo import sources

TINY = ["--max-time", "0.05", "--warmup-max-time", "0.05", "--min-samples", "3", "--no-progress"]

NET = '''
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 5))
    def forward(self, x):
        return self.body(x)

def factory(width):
    return Net(width)

def not_a_module():
    return 3

class TupleOut(nn.Module):
    def forward(self, x):
        return x, x

VALUE = 7
'''


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(NET)
    return path


def _err_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_file_source_records_path_hash_and_kwargs(net_file):
    spec = f"{net_file}:Net?width=6"
    assert sources.resolve_source(spec, input_size="3x16x16") == [spec]
    info = sources.source_of(spec)
    assert info.kind == "file" and info.path == str(net_file.resolve())
    assert info.sha256 == hashlib.sha256(net_file.read_bytes()).hexdigest()
    assert info.kwargs == {"width": 6}
    import zoo

    model = zoo.get_model(spec)
    assert model.body[0].out_channels == 6
    assert zoo.get_meta(spec).input_size == (3, 16, 16) and zoo.get_meta(spec).family == "user"


def test_factory_with_kwargs_and_top1(net_file):
    spec = f"{net_file}:factory?width=3"
    sources.resolve_source(spec, input_size=(3, 8, 8), top1=71.5, dataset="cifar10")
    import zoo

    meta = zoo.get_meta(spec)
    assert meta.reported.top1 == 71.5 and meta.reported.source == sources.USER_REPORTED
    assert meta.dataset == "cifar10"


def test_timm_wildcard_and_library_input_size():
    import timm

    names = sources.resolve_source("timm:test_efficientnet*")
    assert names == ["timm:" + n for n in timm.list_models("test_efficientnet*")]
    import zoo

    cfg = timm.models.get_pretrained_cfg("test_efficientnet")
    assert zoo.get_meta("timm:test_efficientnet").input_size == tuple(cfg.input_size)
    info = sources.source_of("timm:test_efficientnet")
    assert info.kind == "timm" and info.library_version == timm.__version__


def test_torchvision_alias_and_reported_metadata():
    import torchvision
    import zoo

    assert sources.resolve_source("torchvision:resnet18") == ["tv:resnet18"]
    meta = zoo.get_meta("tv:resnet18")
    assert meta.input_size == (3, 224, 224)
    weights = torchvision.models.get_model_weights("resnet18").DEFAULT
    assert meta.reported.top1 == weights.meta["_metrics"]["ImageNet-1K"]["acc@1"]
    assert sources.source_of("tv:resnet18").library_version == torchvision.__version__


def test_pt2_round_trip_matches_eager(tmp_path, net_file):
    import zoo
    from bench.runner import checked_deploy_form

    spec = f"{net_file}:Net"
    sources.resolve_source(spec, input_size="3x16x16")
    eager = zoo.get_model(spec).eval()
    x = torch.randn(1, 3, 16, 16)
    path = tmp_path / "net.pt2"
    torch.export.save(torch.export.export(eager, (x,)), str(path))
    assert sources.resolve_source(str(path)) == [str(path)]  # input size read from the program
    assert zoo.get_meta(str(path)).input_size == (3, 16, 16)
    loaded = checked_deploy_form(str(path))
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), eager(x))
    assert sources.source_of(str(path)).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sources.exported_batch_ok(str(path), 1) is None
    assert "does not accept batch 2" in sources.exported_batch_ok(str(path), 2)


def test_deploy_form_checked_equal_for_timm_reparameterize():
    from bench.runner import checked_deploy_form

    sources.resolve_source("timm:test_byobnet")
    assert isinstance(checked_deploy_form("timm:test_byobnet"), torch.nn.Module)


def test_deploy_mismatch_is_refused(net_file, monkeypatch):
    from bench import runner
    from zoo.layers import reparam

    spec = f"{net_file}:Net"
    sources.resolve_source(spec, input_size="3x8x8")

    def broken(model, impl=None, inplace=False):
        import copy

        m = copy.deepcopy(model)
        with torch.no_grad():
            m.body[0].weight.mul_(2)
        return m

    monkeypatch.setattr(reparam, "deploy_form", broken)
    with pytest.raises(runner.DeployMismatch, match="deploy form differs"):
        runner.checked_deploy_form(spec)


@pytest.mark.parametrize("model, extra, text", [
    ("{dir}/missing.py:Net", ["--input-size", "3x8x8"], "not found"),
    ("{dir}/net.py:Nope", ["--input-size", "3x8x8"], "has no 'Nope'; it defines"),
    ("{dir}/net.py:VALUE", ["--input-size", "3x8x8"], "neither an nn.Module class nor a factory"),
    ("{dir}/net.py:factory", ["--input-size", "3x8x8"], "cannot be called with no arguments"),
    ("{dir}/net.py:not_a_module", ["--input-size", "3x8x8"], "returned int, not an nn.Module"),
    ("{dir}/net.py:TupleOut", ["--input-size", "3x8x8"], "output is a tuple, not a tensor"),
    ("{dir}/net.py:Net", [], "give the input size with --input-size"),
    ("{dir}/net.py:Net", ["--input-size", "3x8"], "malformed input size '3x8'"),
    ("{dir}/net.py:Net", ["--input-size", "axbxc"], "malformed input size"),
    ("{dir}/broken.py:Net", ["--input-size", "3x8x8"], "broken.py failed: ZeroDivisionError"),
    ("timm:efficientnet_bx", [], "unknown timm model 'efficientnet_bx'; did you mean"),
    ("tv:resnet1", [], "unknown torchvision classification model 'resnet1'; did you mean resnet18"),
    ("timm:zzz_*", [], "matches no timm model"),
    ("{dir}/missing.pt2", [], "not found"),
    ("{dir}/net.py:Net", ["--input-size", "3x8x8", "--batch", "2"], None),  # valid: checked below
])
def test_errors_one_line_exit_2(tmp_path, capsys, net_file, model, extra, text):
    (tmp_path / "broken.py").write_text("x = 1 / 0\n")
    db = tmp_path / "r.sqlite"
    rc = main(["run", "--device", "cpu", "--models", model.format(dir=tmp_path), *extra, "--db", str(db), *TINY])
    if text is None:
        assert rc == 0
        return
    assert rc == 2
    assert text in _err_line(capsys)
    assert not db.exists()


def test_pt2_static_batch_refused(tmp_path, capsys):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten()).eval()
    path = tmp_path / "static.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 8, 8),)), str(path))
    db = tmp_path / "r.sqlite"
    assert main(["run", "--device", "cpu", "--models", str(path), "--batch", "1,4", "--db", str(db), *TINY]) == 2
    assert "does not accept batch 4" in _err_line(capsys)


def test_input_size_without_source_is_refused(tmp_path, capsys):
    assert main(["run", "--device", "cpu", "--models", "resnet20_cifar", "--input-size", "3x8x8",
                 "--db", str(tmp_path / "r.sqlite"), *TINY]) == 2
    assert "apply to model sources" in _err_line(capsys)


def test_run_mixes_sources_and_zoo_and_stores_source(tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    argv = ["run", "--device", "cpu", "--models", "timm:test_efficientnet,tv:resnet18,resnet20_cifar",
            "--threads", "1", "--db", str(db), "--format", "json", *TINY]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in rows] == ["ok"] * 3
    with sqlite3.connect(db) as conn:
        stored = dict(conn.execute("SELECT model, extra FROM results").fetchall())
    assert json.loads(stored["tv:resnet18"])["source"]["kind"] == "torchvision"
    assert json.loads(stored["timm:test_efficientnet"])["source"]["kind"] == "timm"
    assert "source" not in json.loads(stored["resnet20_cifar"])


def test_example_file_runs(tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    argv = ["run", "--device", "cpu", "--models", "examples/my_net.py:MyNet", "--input-size", "3x32x32",
            "--db", str(db), "--format", "json", *TINY]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["status"] == "ok" and rows[0]["model"] == "examples/my_net.py:MyNet"


def test_costs_of_sources_match_in_process_count(capsys):
    from bench.costs import model_costs

    assert main(["costs", "tv:resnet18,examples/my_net.py:MyNet", "--input-size", "3x32x32", "--format", "json",
                 "--no-progress", "--jobs", "2"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["tv:resnet18"]["family"] == "torchvision"
    assert rows["tv:resnet18"]["input_size"] == [3, 32, 32]  # --input-size overrides the library's 224
    direct = model_costs("examples/my_net.py:MyNet")
    assert rows["examples/my_net.py:MyNet"]["macs"] == direct.macs > 0


def test_report_labels_user_reported_top1_from_stored_source(tmp_path, capsys):
    from bench.api import load_results
    from bench.report.data import add_metadata

    db = tmp_path / "r.sqlite"
    argv = ["run", "--device", "cpu", "--models", "examples/my_net.py:MyNet", "--input-size", "3x32x32",
            "--top1", "91.5", "--dataset", "cifar10", "--threads", "1", "--db", str(db), *TINY]
    assert main(argv) == 0
    sources.unregister_source("examples/my_net.py:MyNet")  # as in a later `bench report` process
    rows = add_metadata(load_results(db))
    row = rows.iloc[0]
    assert row["top1"] == 91.5 and row["top1_kind"] == "user-reported" and row["dataset"] == "cifar10"
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "rep")]) == 0
    tables = "".join(p.read_text() for p in (tmp_path / "rep").rglob("*.md"))
    assert "examples/my_net.py:MyNet" in tables and "user-reported" in tables


@pytest.mark.slow  # ExecuTorch export + XNNPACK lowering of a real timm model: minutes on 2 cores
def test_mobile_runs_a_timm_model(tmp_path, capsys):
    from devices import mobile

    if mobile.executorch_version() is None:
        pytest.skip("executorch not installed")
    db = tmp_path / "r.sqlite"
    argv = ["run", "--device", "mobile", "--models", "timm:mobilenetv3_small_100", "--db", str(db),
            "--format", "json", *TINY]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["status"] == "ok", rows[0]["message"]
