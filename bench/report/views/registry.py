"""The site's views. A new view is its module (with `NAME`, `TITLE`, `NEEDS` and `build(data)`,
see `bench.report.views.base`) plus one line here."""
from __future__ import annotations

import importlib

VIEWS = (
    "bench.report.views.cross_target",
    "bench.report.views.batch",
    "bench.report.views.history",
    "bench.report.views.distribution",
)


def view_modules() -> list:
    """The registered view modules, in index order."""
    return [importlib.import_module(name) for name in VIEWS]
