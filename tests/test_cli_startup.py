"""CLI start-up: `bench --help` imports no command module, `bench zoo list` no torch; zoo list filters."""
import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import cli
from bench.cli import main

REPO = Path(__file__).resolve().parent.parent


def test_summaries_equal_each_commands_own_help():
    full = cli.build_parser()
    sub = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    assert {a.dest: a.help for a in sub._choices_actions} == cli.SUMMARIES
    assert list(cli.SUMMARIES) == list(cli.COMMANDS)


def test_command_in_finds_the_command():
    assert cli.command_in(["zoo", "list"]) == "zoo"
    assert cli.command_in(["--help"]) == ""
    assert cli.command_in([]) == ""


def modules_after(args: list[str]) -> set[str]:
    code = ("import sys; from bench.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted(sys.modules)), file=sys.stderr)")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("ZOOBENCH_VARIANTS", None)
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300,
                          cwd=REPO)
    return set(proc.stderr.strip().splitlines()[-1].split())


def test_help_imports_no_command_module_and_zoo_list_no_torch():
    loaded = modules_after(["--help"])
    assert not any(m.startswith("bench.commands.") for m in loaded) and "zoo" not in loaded
    loaded = modules_after(["zoo", "list"])
    assert "bench.commands.zoo_cmd" in loaded and "zoo" in loaded
    assert not {"torch", "timm", "torchvision", "bench.commands.run_cmd"} & loaded


@pytest.mark.parametrize("args,needle", [
    (["zoo", "list", "--family", "nope"], "family 'nope' matches no model"),
    (["zoo", "list", "--tag", "nope"], "tag 'nope' matches no model"),
    (["zoo", "list", "vgg16_cifar*", "--tag", "imagenet"], "no model matches"),
])
def test_zoo_list_selecting_nothing_is_one_line_exit_2(capsys, args, needle):
    assert main(args) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and needle in out.err


def test_zoo_list_family_and_tag_still_filter(capsys):
    assert main(["zoo", "list", "--family", "mobilenet_cifar", "--tag", "se", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["mobilenet_cifar_p32_se"]
