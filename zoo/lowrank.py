"""Low-rank variants (LRPET-style): each KxK conv becomes a rank-r KxK conv then a 1x1 conv.

LRPET (Guo et al., "Compact Model Training by Low-Rank Projection with Energy Transfer")
trains networks whose conv weights, reshaped to C_out x (C_in K K), have rank r; the deployed
network is the factorised one. With the SVD W = U S V^T truncated to r, V_r^T becomes a KxK
conv C_in -> r (same stride, padding, dilation) and U_r S_r a 1x1 conv r -> C_out (carrying
the bias); the BN that followed the conv now follows the 1x1 and folds into it. Per output
pixel the MACs go from C_out C_in K^2 to r (C_in K^2 + C_out).

The rank of each layer is `rank_ratio` x its full rank min(C_out, C_in K^2) (rounded, at
least 1), or the smallest r whose singular values keep an `energy` share of sum(s^2): that
choice depends on the weights, so with random weights it says nothing about a trained model.
A layer whose factorised form would not save MACs, a grouped conv and a 1x1 conv stay dense.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from zoo.meta import CIFAR10, ModelMeta, Reported
from zoo.papers import LRPET
from zoo.registry import get_entry, register_variant
import zoo.resnet_cifar  # noqa: F401,E402  the parents below must be registered first
import zoo.vgg_cifar  # noqa: F401,E402


class LowRankConv2d(nn.Module):
    """A rank-`rank` factorised KxK conv: `reduce` (KxK, C_in -> rank) then `expand` (1x1, rank -> C_out)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], rank: int,
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0,
                 dilation: int | tuple[int, int] = 1, bias: bool = False, padding_mode: str = "zeros") -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f"rank must be >= 1, got {rank}")
        self.reduce = nn.Conv2d(in_channels, rank, kernel_size, stride, padding, dilation, bias=False,
                                padding_mode=padding_mode)
        self.expand = nn.Conv2d(rank, out_channels, 1, bias=bias)

    @property
    def rank(self) -> int:
        """The factorisation rank (width of the intermediate feature map)."""
        return self.reduce.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(self.reduce(x))

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, rank: int, init: str = "svd") -> "LowRankConv2d":
        """Factorise `conv` at `rank`.

        init="svd": the best rank-`rank` approximation of its weight (truncated SVD), so the
        output approximates the dense conv's; init="random": fresh random weights (enough for
        cost and latency, which depend on the shapes only).
        """
        lr = cls(conv.in_channels, conv.out_channels, conv.kernel_size, rank, conv.stride, conv.padding,
                 conv.dilation, conv.bias is not None, conv.padding_mode)
        if init == "random":
            return lr.to(conv.weight.dtype)
        if init != "svd":
            raise ValueError(f"unknown init '{init}'; choose svd or random")
        left, right = truncated_factors(conv.weight, rank)
        with torch.no_grad():
            lr.reduce.weight.copy_(right.reshape_as(lr.reduce.weight))
            lr.expand.weight.copy_(left.reshape_as(lr.expand.weight))
            if conv.bias is not None:
                lr.expand.bias.copy_(conv.bias)
        return lr.to(conv.weight.dtype)


def _gram_eig(mat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Eigen-decomposition of the smaller Gram matrix, largest first: (s^2, vectors, rows_side).

    Far faster than a full SVD of a wide C_out x C_in K^2 matrix with CPU LAPACK (seen: 0.4 s
    against 12 s for 512 x 4608), and exact enough in float64 for a truncation.
    """
    rows_side = mat.shape[0] <= mat.shape[1]
    gram = mat @ mat.T if rows_side else mat.T @ mat
    evals, evecs = torch.linalg.eigh(gram)
    return evals.flip(0).clamp_min(0), evecs.flip(1), rows_side


def truncated_factors(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(left C_out x r, right r x C_in K^2) whose product is the best rank-r approximation of `weight`.

    sqrt(S) is split between the two factors so neither carries the whole scale.
    """
    mat = weight.detach().reshape(weight.shape[0], -1).double()
    s2, vecs, rows_side = _gram_eig(mat)
    s = s2[:rank].sqrt()
    # directions with a (numerically) zero singular value contribute nothing: zero them, never divide by 0
    safe = s > s.max() * 1e-10
    inv_root = torch.where(safe, s.clamp_min(1e-300).rsqrt(), torch.zeros_like(s))
    if rows_side:
        u = vecs[:, :rank]
        left, right = u * s.sqrt(), inv_root[:, None] * (u.T @ mat)
    else:
        v = vecs[:, :rank]
        left, right = (mat @ v) * inv_root[None, :], s.sqrt()[:, None] * v.T
    return left.float(), right.float()


def full_rank(conv: nn.Conv2d) -> int:
    """Largest possible rank of `conv`'s weight matrix C_out x (C_in K K)."""
    kh, kw = conv.kernel_size
    return min(conv.out_channels, conv.in_channels * kh * kw)


def rank_from_ratio(conv: nn.Conv2d, rank_ratio: float) -> int:
    """`rank_ratio` x the full rank, rounded half up, at least 1."""
    return max(1, math.floor(rank_ratio * full_rank(conv) + 0.5))


def rank_from_energy(weight: torch.Tensor, energy: float) -> int:
    """Smallest rank whose singular values keep at least `energy` of sum(s^2)."""
    s2, _, _ = _gram_eig(weight.detach().reshape(weight.shape[0], -1).double())
    share = torch.cumsum(s2, 0) / torch.sum(s2)
    # a tiny slack so energy=1.0 is reachable despite rounding in the cumulative sum
    rank = int(torch.searchsorted(share, torch.tensor(energy - 1e-12, dtype=share.dtype)).item()) + 1
    return min(rank, len(share))


def factorized_macs_per_pixel(conv: nn.Conv2d, rank: int) -> tuple[int, int]:
    """(dense, factorised) MACs per output pixel of `conv` at `rank`."""
    kh, kw = conv.kernel_size
    k_in = conv.in_channels * kh * kw
    return conv.out_channels * k_in, rank * (k_in + conv.out_channels)


def factorizable(conv: nn.Module) -> bool:
    """A plain (ungrouped) Conv2d with a kernel larger than 1x1."""
    return isinstance(conv, nn.Conv2d) and conv.groups == 1 and tuple(conv.kernel_size) != (1, 1)


def factorize_model(model: nn.Module, rank_ratio: float | None = None, energy: float | None = None,
                    ranks: dict[str, int] | None = None, init: str = "svd") -> dict[str, int]:
    """Replace each factorisable conv of `model` in place; returns {conv name: rank} of those replaced.

    Give exactly one of `rank_ratio` (0 < r <= 1), `energy` (0 < e <= 1) or `ranks` (explicit
    ranks by module name, as returned by an earlier call: used to rebuild a saved variant).
    `init` is passed to `LowRankConv2d.from_conv`.
    """
    if sum(x is not None for x in (rank_ratio, energy, ranks)) != 1:
        raise ValueError("give exactly one of rank_ratio, energy, ranks")
    for label, value in (("rank_ratio", rank_ratio), ("energy", energy)):
        if value is not None and not 0 < value <= 1:
            raise ValueError(f"{label} must be in (0, 1], got {value}")
    done: dict[str, int] = {}
    # convs already inside a factorisation are left alone (re-factorising a low-rank model)
    inner = {f"{n}.{c}" if n else c for n, m in model.named_modules() if isinstance(m, LowRankConv2d)
             for c in ("reduce", "expand")}
    for name, conv in list(model.named_modules()):
        if ranks is not None:
            if name not in ranks:
                continue
            rank = ranks[name]
        elif not factorizable(conv) or name in inner:
            continue
        else:
            rank = rank_from_ratio(conv, rank_ratio) if rank_ratio is not None else rank_from_energy(conv.weight, energy)
            dense, low = factorized_macs_per_pixel(conv, rank)
            if low >= dense:
                continue
        model.set_submodule(name, LowRankConv2d.from_conv(conv, rank, init))
        done[name] = rank
    return done


# --------------------------------------------------------------------------- registered variants
LOWRANK_PARENTS = ("resnet20_cifar", "resnet32_cifar", "resnet56_cifar", "resnet110_cifar", "vgg16_cifar")
REGISTERED_RANK_RATIOS = (0.5,)


def _register() -> None:
    for parent in LOWRANK_PARENTS:
        for ratio in REGISTERED_RANK_RATIOS:
            pct = round(ratio * 100)
            parent_entry = get_entry(parent)

            def build(parent_builder=parent_entry.builder, ratio=ratio, **kw) -> nn.Module:
                model = parent_builder(**kw)
                # random factors: a zoo variant's cost and latency depend on shapes only, and an SVD
                # of every layer would make each build seconds slower
                factorize_model(model, rank_ratio=ratio, init="random")
                return model

            meta = ModelMeta(
                family="lowrank", paper=LRPET, **CIFAR10,
                reported=Reported(note="LRPET's CIFAR rows are not in stored sources (n/f)"),
                tags=("lowrank", "cifar"), parent=parent,
                notes=f"every KxK conv factorised at {pct} % of its full rank (KxK to rank r, then 1x1)")
            register_variant(f"{parent}_lowrank{pct}", build, meta)


_register()
