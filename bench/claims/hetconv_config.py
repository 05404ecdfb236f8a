"""Sweep settings of the HetConv claim study: the full study and `--quick`.

Shapes pair a width with the spatial size it has in the paper's networks (CIFAR VGG/ResNet:
64@32, 128@16, 256@8, 512@8 (VGG's 512 layers run at 4 and 2; 8 keeps the layer measurable);
ImageNet: 64@56, 128@28, 256@14, 512@7). The issue lists widths {64..512} and sizes
{32,16,8} / {56,28,14,7}; their full cross product is 28 shapes x 2 batches x ~40 operators,
hours on a 2-core CPU, so the full study measures the pairs that occur in the networks.
"""
from __future__ import annotations

from dataclasses import dataclass

from zoo.layers.hetconv import EXACT_CPU_IMPLS


@dataclass(frozen=True)
class StudyConfig:
    """What one run of `bench claim hetconv` measures."""

    name: str
    shapes: tuple[tuple[int, int], ...]  # (channels, spatial size)
    batches: tuple[int, ...]
    parts: tuple[int, ...]  # 0 stands for P = M ("PC")
    impls: tuple[str, ...]
    network_models: tuple[str, ...]
    network_batches: tuple[int, ...]
    ci_target: float = 0.02
    # samples (= interleaved rounds) every operator of a group gets before its CI may stop it: what a
    # ratio-of-medians verdict needs; a group whose rounds do not fit `case_max_time_s` gets fewer and says so
    min_samples: int = 30
    group_max_time_s: float = 12.0  # sampling budget of a group whose `min_samples` rounds fit in it
    # the fresh pass samples at least this long (its CI rule may not stop it sooner), so a group spans several
    # of the machine's fast/slow states and its quiet rounds (bench.quiet_rounds) are a sample of the fast one
    group_min_time_s: float = 3.0
    # ratios and verdicts use the rounds within this of the group's fast level (bench.quiet_rounds); None: all rounds
    quiet_tolerance: float | None = 0.05
    case_max_time_s: float = 60.0  # hard cap: the budget of a slow group grows to fit its rounds, up to this
    calibration_samples: int = 5  # rounds of the calibration pass that picks each P's impl (and sizes the budget)
    calibration_max_time_s: float = 3.0
    warmup_max_time_s: float = 4.0
    # sequential sampling (bench.claims.sequential): at most `looks` looks per group, each at ALPHA / looks;
    # while a pair the verdicts use is undecided, rounds grow `growth`-fold, up to `max_rounds` rounds in all
    # and `extend_max_time_s` seconds of extension per group
    looks: int = 3
    growth: float = 4.0
    max_rounds: int = 500
    extend_max_time_s: float = 20.0
    # the per-op breakdown's case (channels, size, batch; `hetconv_ops`), None = no breakdown
    op_case: tuple[int, int, int] | None = (256, 14, 1)
    op_iterations: int = 10  # profiled passes per operator in the breakdown


ALL_PARTS = (1, 2, 4, 8, 16, 32, 64, 0)
VGG_NETWORK = ("vgg16_cifar", "vgg16_cifar_p2", "vgg16_cifar_p4", "vgg16_cifar_p8", "vgg16_cifar_p16",
               "vgg16_cifar_p32", "vgg16_cifar_p64", "vgg16_cifar_pc", "vgg16_cifar_gwc4_pwc", "vgg16_cifar_dwc_pwc")

FULL = StudyConfig(
    name="full",
    shapes=((64, 32), (128, 16), (256, 8), (512, 8), (64, 56), (128, 28), (256, 14), (512, 7)),
    batches=(1, 32),
    parts=ALL_PARTS,
    impls=EXACT_CPU_IMPLS,
    network_models=VGG_NETWORK,
    network_batches=(1, 32),
)

QUICK = StudyConfig(
    name="quick",
    shapes=((128, 16), (256, 14)),
    batches=(1,),
    parts=(1, 2, 4, 16, 64, 0),
    impls=("grouped", "folded"),
    network_models=("vgg16_cifar", "vgg16_cifar_p4", "vgg16_cifar_p64", "vgg16_cifar_pc", "vgg16_cifar_gwc4_pwc",
                    "vgg16_cifar_dwc_pwc"),
    network_batches=(1,),
    ci_target=0.03,
    min_samples=10,
    group_max_time_s=5.0,
    case_max_time_s=10.0,
    calibration_samples=3,
    calibration_max_time_s=1.0,
    warmup_max_time_s=2.0,
    max_rounds=200,
    extend_max_time_s=15.0,
)


def resolve_part(part: int, channels: int) -> int:
    """0 means P = M; parts larger than M are not defined."""
    return channels if part == 0 else part
