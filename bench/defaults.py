"""Defaults of `bench run`: the default model subset and the timing caps.

`make demo` runs `bench run --device cpu --models default`: the 17 models below with these
caps. Per cell the cost is at most about warm-up (<= WARMUP_MAX_TIME_S) + sampling
(<= MAX_TIME_S) + build/deploy (< 1 s here), and most cells stop earlier on the CI target,
so the demo takes roughly 2-4 minutes on 2 shared cores.
"""
from __future__ import annotations

# The HetConv paper's CIFAR-10 zoo (VGG-16 at every P, the GWC/DWC comparison rows, ResNet-56
# and MobileNet with HetConv) plus two ImageNet references from torchvision.
DEFAULT_MODELS: tuple[str, ...] = (
    "vgg16_cifar",
    "vgg16_cifar_p2", "vgg16_cifar_p4", "vgg16_cifar_p8", "vgg16_cifar_p16", "vgg16_cifar_p32",
    "vgg16_cifar_p64", "vgg16_cifar_pc",
    "vgg16_cifar_gwc4_pwc", "vgg16_cifar_dwc_pwc",
    "resnet56_cifar", "resnet56_cifar_p2", "resnet56_cifar_p4",
    "mobilenet_cifar", "mobilenet_cifar_p32",
    "resnet18", "mobilenet_v2",
)
DEFAULT_MODELS_KEYWORD = "default"

DEFAULT_BATCHES = (1,)
DEFAULT_DTYPES = ("fp32",)
DEFAULT_LAYOUTS = ("nchw",)

CI_TARGET = 0.01  # stop when both 95 % CI bounds of the median are within 1 % of it
CONFIDENCE = 0.95
MAX_TIME_S = 5.0  # sampling cap per cell
MAX_ITERS = 2000  # sampling cap per cell
MIN_SAMPLES = 10  # floor for every stop rule but MAX_ITERS (95 % CI ranks 2 and 9 at n = 10)
WARMUP_CAP = 50  # warm-up calls at most ...
WARMUP_MAX_TIME_S = 5.0  # ... and seconds at most
WARMUP_WINDOW = 3
WARMUP_TOL = 0.05

DEFAULT_DB = "bench-out/results.sqlite"
