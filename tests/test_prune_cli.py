"""`bench prune`: MACs target, output shape, criteria, derived-variant store, bad input."""
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

import zoo
from bench.cli import main
from bench.costs import count_module, example_input, model_costs
from zoo import deploy_form, derived

pytest.importorskip("torch_pruning")
from bench.pruning import frozen_layers, prune_to_macs  # noqa: E402


def files_in(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def prune(capsys, *args):
    """Run `bench prune` and return (exit code, parsed JSON row or None, stderr)."""
    code = main(["prune", *args, "--format", "json"])
    out = capsys.readouterr()
    return code, (json.loads(out.out)[0] if code == 0 else None), out.err


@pytest.mark.parametrize("model,criterion", [("resnet56_cifar", "l1"), ("vgg16_cifar", "l2")])
def test_prune_hits_the_macs_ratio_and_keeps_the_output_shape(variants, capsys, model, criterion):
    code, row, _ = prune(capsys, model, "--criterion", criterion, "--macs-ratio", "0.5")
    assert code == 0
    name = f"{model}_prune_{criterion}_macs50"
    assert row["name"] == name and abs(row["macs_ratio"] / 0.5 - 1) <= 0.03
    assert model_costs(name).macs == row["macs"]  # the saved variant is the pruned model
    out = zoo.get_model(name).eval()(example_input(name))
    assert tuple(out.shape) == (1, 10)
    assert files_in(variants) == sorted([f"{name}.json", derived.read_spec(variants / f"{name}.json").weights])


@pytest.mark.slow
def test_prune_resnet50_hits_the_macs_ratio(variants, capsys):
    code, row, _ = prune(capsys, "resnet50", "--criterion", "l1", "--macs-ratio", "0.5")
    assert code == 0 and abs(row["macs_ratio"] / 0.5 - 1) <= 0.03
    assert tuple(zoo.get_model(row["name"]).eval()(example_input("resnet50")).shape) == (1, 1000)


@pytest.mark.parametrize("criterion", ["fpgm", "taylor", "random"])
def test_every_criterion_reaches_the_target(criterion):
    model = zoo.get_model("resnet56_cifar")
    outcome = prune_to_macs(model, example_input("resnet56_cifar"), criterion, 0.5)
    assert abs(outcome.relative_error) <= 0.03
    assert outcome.parent_macs == model_costs("resnet56_cifar").macs
    assert outcome.macs == count_module(deploy_form(outcome.model), example_input("resnet56_cifar"))["macs"]


def test_option_a_residual_streams_are_left_whole():
    model = zoo.get_model("resnet56_cifar")
    x = example_input("resnet56_cifar")
    assert frozen_layers(model, x) == ["fc", "stem.0"]
    pruned = prune_to_macs(model, x, "l1", 0.5).model
    assert [b.conv2[0].out_channels for b in pruned.blocks] == [16] * 9 + [32] * 9 + [64] * 9
    assert all(b.conv1[0].out_channels < b.conv2[0].out_channels for b in pruned.blocks)


def pruned_widths(name, seed, criterion, scope):
    torch.manual_seed(seed)  # the parent's random weights
    pruned = prune_to_macs(zoo.get_model(name), example_input(name), criterion, 0.5, scope=scope).model
    return [m.out_channels for m in pruned.modules() if isinstance(m, nn.Conv2d)]


def test_local_widths_do_not_depend_on_the_weights_or_criterion():
    local = pruned_widths("resnet56_cifar", 0, "l1", "local")
    assert local == pruned_widths("resnet56_cifar", 1, "l1", "local") == pruned_widths("resnet56_cifar", 0, "fpgm", "local")


def test_global_widths_depend_on_the_weights():
    assert pruned_widths("resnet20_cifar", 0, "l1", "global") != pruned_widths("resnet20_cifar", 1, "l1", "global")


def test_round_to_keeps_channel_multiples(variants, capsys):
    code, row, _ = prune(capsys, "vgg16_cifar", "--criterion", "l1", "--macs-ratio", "0.5", "--round-to", "8")
    assert code == 0 and row["name"] == "vgg16_cifar_prune_l1_macs50_r8"
    convs = [m for m in zoo.get_model(row["name"]).modules() if isinstance(m, nn.Conv2d)]
    assert all(c.out_channels % 8 == 0 for c in convs)


@pytest.mark.parametrize("ratio", ["0", "1", "1.5", "-0.2", "nan"])
def test_ratio_outside_the_open_interval_is_one_line_exit_2(variants, capsys, ratio):
    code, _, err = prune(capsys, "resnet20_cifar", "--criterion", "l1", "--macs-ratio", ratio)
    assert code == 2 and err.count("\n") == 1 and "--macs-ratio must be in (0, 1)" in err
    assert files_in(variants) == []


def test_unknown_criterion_and_model_are_one_line_exit_2(variants, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["prune", "resnet20_cifar", "--criterion", "hrank", "--macs-ratio", "0.5"])
    assert exc.value.code == 2 and capsys.readouterr().err.count("\n") == 1
    code, _, err = prune(capsys, "resnet21_cifar", "--criterion", "l1", "--macs-ratio", "0.5")
    assert code == 2 and err.count("\n") == 1 and "unknown model" in err
    assert files_in(variants) == []


def test_mismatching_or_unreadable_checkpoint_is_one_line_exit_2(variants, tmp_path, capsys):
    wrong = tmp_path / "resnet32.pt"
    torch.save(zoo.get_model("resnet32_cifar").state_dict(), wrong)
    code, _, err = prune(capsys, "resnet20_cifar", "--criterion", "l1", "--macs-ratio", "0.5", "--checkpoint", str(wrong))
    assert code == 2 and err.count("\n") == 1 and "does not match the model" in err
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    code, _, err = prune(capsys, "resnet20_cifar", "--criterion", "l1", "--macs-ratio", "0.5", "--checkpoint", str(junk))
    assert code == 2 and err.count("\n") == 1 and "cannot be read safely" in err
    assert files_in(variants) == []
    assert not zoo.list_models("resnet20_cifar_prune_*")


def test_checkpoint_weights_are_the_ones_pruned(variants, tmp_path, capsys):
    parent = zoo.get_model("resnet56_cifar")
    ckpt = tmp_path / "r56.pt"
    torch.save({"state_dict": parent.state_dict()}, ckpt)
    code, row, _ = prune(capsys, "resnet56_cifar", "--criterion", "l1", "--macs-ratio", "0.5", "--checkpoint", str(ckpt))
    assert code == 0
    # the stem is frozen (option-A stream), so it keeps the checkpoint's weights exactly
    assert torch.equal(zoo.get_model(row["name"]).stem[0].weight, parent.stem[0].weight)


def test_existing_names_need_force_and_zoo_names_are_refused(variants, capsys):
    args = ["resnet56_cifar", "--criterion", "l1", "--macs-ratio", "0.5"]
    assert prune(capsys, *args)[0] == 0
    first = files_in(variants)
    code, _, err = prune(capsys, *args)
    assert code == 2 and "--force" in err and files_in(variants) == first
    assert prune(capsys, *args, "--force", "--seed", "3")[0] == 0
    assert len(files_in(variants)) == 2  # the old weights file was replaced, not left behind
    code, _, err = prune(capsys, *args, "--name", "resnet56_cifar")
    assert code == 2 and "is a zoo model" in err


def test_a_failed_save_leaves_nothing_behind(variants, capsys, monkeypatch):
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst).endswith(".json"):
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    code, _, err = prune(capsys, "resnet56_cifar", "--criterion", "l1", "--macs-ratio", "0.5")
    assert code == 2 and err.count("\n") == 1 and "disk full" in err
    assert files_in(variants) == []
    assert not zoo.list_models("resnet56_cifar_prune_*")


def test_saved_variants_register_on_load_and_bad_specs_only_warn(variants, capsys):
    assert prune(capsys, "resnet56_cifar", "--criterion", "l1", "--macs-ratio", "0.5")[0] == 0
    name = "resnet56_cifar_prune_l1_macs50"
    zoo.registry.unregister_model(name)  # as in a fresh process
    (variants / "broken.json").write_text("{not json")
    with pytest.warns(UserWarning, match="skipping derived variant .*broken.json"):
        assert derived.load_saved_variants() == [name]
    meta = zoo.get_meta(name)
    assert meta.parent == "resnet56_cifar" and "derived" in meta.tags and meta.family == "pruned"
    assert model_costs(name).macs < model_costs("resnet56_cifar").macs


@pytest.mark.slow
def test_a_new_process_sees_saved_variants_only_where_asked(variants, capsys):
    # `import zoo` is pure; commands that take model names load the folder ($ZOOBENCH_VARIANTS here)
    assert prune(capsys, "resnet56_cifar", "--criterion", "l1", "--macs-ratio", "0.5")[0] == 0
    (variants / "broken.json").write_text("{not json")
    env = dict(os.environ, **{derived.ENV_VAR: str(variants)})
    code = "import zoo; print(zoo.list_models('resnet56_cifar_prune_*'))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]" and proc.stderr == "", proc.stderr
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "zoo", "list", "resnet56_cifar_prune_*", "--format", "csv"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[1:] and proc.stdout.strip().splitlines()[1].startswith(
        "resnet56_cifar_prune_l1_macs50,")
    assert proc.stderr.count("\n") == 1 and "broken.json" in proc.stderr
