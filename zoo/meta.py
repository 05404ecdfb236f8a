"""Frozen metadata attached to every registered zoo variant.

Numbers in `Reported` are what a paper or a library states, never what we measured: the
measured numbers live in the result store. Every reported number carries its source and the
counting scope it was taken in, because papers disagree on what a "FLOP" covers.
"""
from __future__ import annotations

from dataclasses import dataclass, field, asdict
from typing import Any


@dataclass(frozen=True)
class Paper:
    """The publication a variant comes from."""

    title: str
    year: int
    url: str = ""


@dataclass(frozen=True)
class Reported:
    """Numbers a source reports for a variant (any may be None: not found, never invented).

    `macs` and `params` are absolute counts (not millions). `scope` says what the MACs count
    covers, e.g. "conv" or "conv+linear".
    """

    top1: float | None = None
    macs: float | None = None
    params: float | None = None
    latency_ms: float | None = None
    source: str = ""
    scope: str = ""
    note: str = ""


@dataclass(frozen=True)
class ModelMeta:
    """Everything the suite knows about a variant besides its builder."""

    family: str
    paper: Paper
    dataset: str  # "cifar10" or "imagenet"
    input_size: tuple[int, int, int]  # C, H, W
    num_classes: int
    deploy: str = "fold_bn"  # the transform `zoo.deploy_form` applies: fold_bn | reparameterize
    reported: Reported = field(default_factory=Reported)
    tags: tuple[str, ...] = ()
    hetconv_p: int | None = None  # part value P for HetConv variants ("PC" stored as its P per layer: 0)
    notes: str = ""
    parent: str | None = None  # for compressed (pruned, low-rank) variants: the dense variant they come from
    # Further numbers for the same architecture that must not be mistaken for `reported`, e.g. a
    # newer training recipe's accuracy; each entry's `note` says what sets it apart.
    also_reported: tuple[Reported, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for JSON output."""
        return asdict(self)


CIFAR10 = dict(dataset="cifar10", input_size=(3, 32, 32), num_classes=10)
IMAGENET = dict(dataset="imagenet", input_size=(3, 224, 224), num_classes=1000)
