"""Claim studies: papers' speed claims tested with measurements (see `bench claim --help`)."""
