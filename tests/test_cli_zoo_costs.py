"""`bench zoo` and `bench costs` from the command line: output formats and error handling."""
import json
import subprocess
import sys

import pytest

from bench.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, timeout=300)


def test_costs_json_has_the_documented_fields(capsys):
    assert main(["costs", "resnet20_cifar,vgg16_cifar_p4", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["resnet20_cifar", "vgg16_cifar_p4"]
    for r in rows:
        assert {"name", "family", "macs", "params", "input_size", "unsupported_ops"} <= set(r)
    assert rows[0]["input_size"] == [3, 32, 32]


def test_costs_table_header_states_the_convention(capsys):
    assert main(["costs", "resnet20_cifar"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# 1 MAC = one multiply-add")


def test_costs_csv(capsys):
    assert main(["costs", "resnet20_cifar", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("name,family,input_size,macs") and lines[1].startswith("resnet20_cifar,")


def test_costs_check_passes_on_the_committed_table(capsys):
    assert main(["costs", "resnet20_cifar", "--check"]) == 0


def test_zoo_list_and_show(capsys):
    assert main(["zoo", "list", "mobilenet_cifar*", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["mobilenet_cifar", "mobilenet_cifar_p32", "mobilenet_cifar_p32_se"]
    assert main(["zoo", "show", "vgg16_cifar_p4"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["reported"]["top1"] == 93.93 and shown["reported"]["source"]


@pytest.mark.parametrize("args,needle", [
    (["costs", "no_such_model"], "unknown model 'no_such_model'"),
    (["costs", "zz*"], "matches no model"),
    (["costs", "--format", "xml"], "invalid choice"),
    (["zoo", "show", "vgg16_cifr"], "did you mean"),
    (["costs", "resnet20_cifar", "--impl", "fast"], "unknown HetConv impl"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    proc = run_cli(*args)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and needle in err[0], proc.stderr
