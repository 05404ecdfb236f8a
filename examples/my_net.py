"""A small user model for `bench run --models examples/my_net.py:MyNet --input-size 3x32x32`.

Any file works the same way: NAME is an `nn.Module` class or a factory function; keyword
arguments go after `?` (`examples/my_net.py:MyNet?width=64`, or `examples/my_net.py:my_net?width=8`).
"""
import torch.nn as nn


class MyNet(nn.Module):
    """Conv-BN-ReLU stack and a linear classifier (BN folds into the convs in the deploy form)."""

    def __init__(self, width: int = 32, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(4 * width),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x))


def my_net(width: int = 32) -> MyNet:
    """Factory form of MyNet."""
    return MyNet(width=width)
