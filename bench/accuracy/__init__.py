"""Measured accuracy (`bench eval`): data sources, checkpoint loading, metrics, evaluation, storage.

- `data`: the user's data (CIFAR python batches, ImageFolder) through torchvision datasets and
  timm's data config, plus a dataset fingerprint;
- `checkpoint`: safe (`weights_only=True`) checkpoint loading with one-line mismatch reports,
  train form -> deploy form with an equality check;
- `metrics`: top-k counts, exact (Clopper-Pearson) intervals, exact McNemar test;
- `evaluate`: the evaluation loop (eager, and the ExecuTorch .pte for the mobile target);
- `store`: the accuracy table in the result store's SQLite file.
"""
