"""scikit-learn's digits (1,797 real 8x8 images, 10 classes) written as user data for `bench eval` tests.

Each image is scaled from 0..16 to 0..255 and upsampled 4x (nearest) to 32x32, grey in all
three channels, then written in CIFAR-10's official python-batch format (`cifar-10-batches-py/`
with `data_batch_1` = training split, `test_batch` = held-out split, `batches.meta`) and as an
ImageFolder of PNGs (held-out split). The split is a fixed, seeded, class-stratified one.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

CLASSES = [str(d) for d in range(10)]


def digits_images(seed: int = 0, test_fraction: float = 0.5) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{'train': (images N x 32 x 32 x 3 uint8, labels), 'test': (...)} from sklearn's digits."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)  # N x 8 x 8
    big = np.kron(pixels, np.ones((1, 4, 4), dtype=np.uint8))  # N x 32 x 32
    rgb = np.repeat(big[..., None], 3, axis=3)
    x_train, x_test, y_train, y_test = train_test_split(rgb, digits.target, test_size=test_fraction,
                                                        random_state=seed, stratify=digits.target)
    return {"train": (x_train, y_train.astype(np.int64)), "test": (x_test, y_test.astype(np.int64))}


def _batch(images: np.ndarray, labels: np.ndarray, name: str) -> dict:
    # CIFAR rows: 1024 red, then 1024 green, then 1024 blue values, row-major
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    return {"batch_label": name, "labels": [int(v) for v in labels], "data": data,
            "filenames": [f"digit_{i:04d}.png" for i in range(len(images))]}


def write_cifar(root: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """Write `splits` as root/cifar-10-batches-py/{data_batch_1,test_batch,batches.meta}; returns root."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for split, file in (("train", "data_batch_1"), ("test", "test_batch")):
        with (folder / file).open("wb") as fh:
            pickle.dump(_batch(*splits[split], f"digits {split}"), fh)
    with (folder / "batches.meta").open("wb") as fh:
        pickle.dump({"label_names": CLASSES, "num_cases_per_batch": len(splits["test"][1]), "num_vis": 3072}, fh)
    return Path(root)


def write_imagefolder(root: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """Write images as root/<class>/<index>.png (PNG is lossless: same pixels as the CIFAR batch)."""
    from PIL import Image

    root = Path(root)
    for i, (img, label) in enumerate(zip(images, labels)):
        folder = root / CLASSES[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i:04d}.png")
    return root
