"""Claim studies: papers' speed claims tested with measurements (see `bench claim --help`).

`base` defines the study protocol, `registry` maps `bench claim NAME` to studies (one line per
study), `report_base` holds the report scaffolding they share with `bench.report`.
"""
