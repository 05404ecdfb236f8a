"""zoobench model zoo: registered efficient-CNN variants with paper metadata.

Importing `zoo` registers every code-defined variant (names and metadata from the committed
catalog, see `zoo.catalog`; a family module is imported when one of its variants is built).
It reads no files outside the package: saved variants (`bench prune`, `bench lowrank`) are
registered only by an explicit `zoo.derived.load_saved_variants(folder)`.
Use `list_models`, `get_model`, `get_meta`.
"""
from zoo.registry import get_entry, get_meta, get_model, list_models, register_model, resolve_patterns  # noqa: F401
from zoo.catalog import register_families as _register_families

_register_families()


def __getattr__(name: str):
    # deploy_form needs torch; importing it lazily keeps `import zoo` light for listing names
    if name == "deploy_form":
        from zoo.layers.reparam import deploy_form

        return deploy_form
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
