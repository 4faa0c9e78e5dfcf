"""The classifier under test: a small 2-conv CNN for 28x28 Fashion-MNIST images.

``prime predict --model model:build --weights weights.pt`` loads it (this folder on
``PYTHONPATH``); :func:`build` also says how to preprocess its input.
"""

from __future__ import annotations

import torch
from torch import nn

#: Class names of Fashion-MNIST, in label order.
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
#: Mean and standard deviation of the training pixels (scaled to [0, 1]).
MEAN, STD = 0.2860, 0.3530


class SmallCNN(nn.Module):
    """Two 3x3 convolutions with max pooling, then two dense layers.

    Takes RGB input (as the image loader gives it) and averages the channels: the images
    are grey.
    """

    def __init__(self, n_classes: int = len(CLASSES)) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores ``(n, 10)`` of a batch ``(n, C, 28, 28)`` normalised with MEAN / STD."""
        if x.shape[1] != 1:
            x = x.mean(dim=1, keepdim=True)
        return self.head(self.features(x))


def build() -> SmallCNN:
    """The untrained model: ``prime predict`` loads the trained weights into it."""
    return SmallCNN()
