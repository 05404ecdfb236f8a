"""Views of the report site beyond the per-slice pages: one module per view, listed in `registry.py`."""
