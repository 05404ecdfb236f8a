"""The package import rules of docs/architecture.md, and the files its recipes name.

zoo imports nothing of ours; devices imports zoo at most; bench imports both. Checked by
scanning every module's import statements (also those inside functions), so a lazy import
cannot sneak a cycle back in.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {"zoo": set(), "devices": {"zoo"}, "bench": {"zoo", "devices"}}


def _our_imports(path: Path) -> set[str]:
    """Top-level package names of ours that `path` imports anywhere in its body."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(n.split(".")[0] for n in names if n.split(".")[0] in ALLOWED)
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_architecture_allows(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _our_imports(path) - ALLOWED[package] - {package}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert not offenders, offenders


def test_the_scan_sees_a_forbidden_import(tmp_path):
    # the check above must be able to fail: a function-level import of bench is found
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from bench.store import ResultStore\n    import devices.cpu\n")
    assert _our_imports(module) == {"bench", "devices"}


def test_every_file_the_architecture_doc_names_exists():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    paths = set(re.findall(r"`((?:zoo|devices|bench|tests)/[\w/]+\.(?:py|csv|json))`", doc))
    assert len(paths) >= 15  # the regex really finds the paths
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, missing


def test_recipe_registration_lines_are_the_ones_the_code_uses():
    from bench.claims.registry import STUDIES
    from bench.cli import COMMAND_TABLE
    from devices.registry import device_names
    from zoo.catalog import FAMILY_MODULES

    assert {"cpu", "cuda", "mobile"} <= set(device_names())
    assert "hetconv" in STUDIES
    assert all(module.endswith("_cmd") for module, _ in COMMAND_TABLE.values())
    # every family file under zoo/ is discovered, and no infrastructure module is
    on_disk = {f"zoo.{p.stem}" for p in (ROOT / "zoo").glob("*.py") if not p.stem.startswith("_")}
    assert set(FAMILY_MODULES) == on_disk - {"zoo.catalog", "zoo.derived", "zoo.meta", "zoo.papers", "zoo.registry", "zoo.sources"}
