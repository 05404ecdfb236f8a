"""`import zoo` is pure and light: names and metadata come from the committed catalog, kept equal to the code."""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import zoo
from zoo import catalog
from zoo.meta import Paper, Reported
from zoo.registry import all_entries

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "torchvision", "timm")


def run_python(code: str, cwd: Path = REPO, **env) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PYTHONPATH=str(REPO), **env)
    full_env.pop("ZOOBENCH_VARIANTS", None)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, env=full_env,
                          timeout=600)


def test_catalog_is_current():
    # fails after any edit under zoo/ (or a timm/torchvision upgrade) until `bench zoo catalog --update`
    assert catalog.load_current() is not None, "zoo/catalog.json is stale: run `bench zoo catalog --update`"


def test_catalog_equals_what_the_family_modules_register():
    code = ("import json; from zoo import catalog; "
            "print(json.dumps(catalog.generate()['models']))")
    proc = run_python(code, **{catalog.FROM_SOURCE_ENV: "1"})
    assert proc.returncode == 0, proc.stderr
    from_source = json.loads(proc.stdout)
    committed = json.loads(catalog.CATALOG_PATH.read_text())["models"]
    assert [m["name"] for m in committed] == [m["name"] for m in from_source]
    assert committed == from_source


def test_metadata_round_trips_through_the_catalog():
    for entry in all_entries():
        assert catalog.meta_from_dict(dataclasses.asdict(entry.meta)) == entry.meta, entry.name
        # nested records come back as their dataclasses, not as the JSON dicts they were stored as
        assert isinstance(entry.meta.paper, Paper) and isinstance(entry.meta.reported, Reported), entry.name
        assert all(isinstance(r, Reported) for r in entry.meta.also_reported), entry.name


def test_import_zoo_lists_and_describes_without_torch_timm_or_torchvision():
    code = ("import sys, zoo; names = zoo.list_models(); meta = [zoo.get_meta(n) for n in names]; "
            f"print(len(names), sorted(m for m in {HEAVY!r} if m in sys.modules))")
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split(maxsplit=1) == [str(len(zoo.list_models())), "[]\n"]


def test_every_declared_module_registers_its_builders():
    code = ("import importlib, zoo; from zoo.registry import all_entries, has_builder; "
            "[importlib.import_module(m) for m in sorted({e.module for e in all_entries()})]; "
            "print([e.name for e in all_entries() if not has_builder(e.name)])")
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_declared_variant_builds_on_first_use():
    code = ("import sys, zoo; assert 'zoo.ghostnet' not in sys.modules; m = zoo.get_model('ghostnet_050'); "
            "print(type(m).__name__, 'zoo.ghostnet' in sys.modules)")
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "GhostNet True"


def test_a_stale_catalog_is_not_used_and_source_mode_registers_the_same_names(tmp_path):
    stale = tmp_path / "catalog.json"
    stale.write_text(json.dumps({"format": catalog.CATALOG_FORMAT, "fingerprint": "0" * 64, "models": []}))
    assert catalog.load_current(stale) is None
    proc = run_python("import zoo; print(len(zoo.list_models()))",
                      **{catalog.FROM_SOURCE_ENV: "1"})
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) == len(zoo.list_models())


def test_import_zoo_ignores_saved_variants_in_the_working_directory(tmp_path):
    folder = tmp_path / "bench-out" / "variants"
    folder.mkdir(parents=True)
    (folder / "broken.json").write_text("{not json")
    proc = run_python("import zoo; print(len(zoo.list_models()))", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == ""
    assert int(proc.stdout) == len(zoo.list_models())
