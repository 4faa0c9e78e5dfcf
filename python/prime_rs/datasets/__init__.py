"""The bundled Fashion-MNIST demo data: a real classifier's predictions with real tags.

See ``README.md`` beside this file for how it was made (``examples/fashion_mnist/run.py``)
and its licence (Fashion-MNIST: MIT).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

__all__ = ["SAMPLES_FILE", "THUMBNAILS_FILE", "fashion_mnist", "fashion_mnist_thumbnails"]

SAMPLES_FILE = "fashion_mnist.parquet"
THUMBNAILS_FILE = "fashion_mnist_thumbnails.parquet"


def _path(name: str) -> Path:
    return Path(str(resources.files("prime_rs.datasets").joinpath(name)))


def fashion_mnist() -> pl.DataFrame:
    """The bundled samples table: ``id, label, prediction, tags, tag_scores, split``.

    ``split`` is ``detect`` (the 10,000 held-out Fashion-MNIST training images) or
    ``holdout`` (the whole official test set, 10,000 images); ``prediction`` is a small
    CNN's; ``tags`` are EfficientNet-Lite0's ImageNet labels of the inverted image (top 5,
    probability >= 0.05).

    Examples
    --------
    >>> df = fashion_mnist()
    >>> sorted(df["split"].unique().to_list())
    ['detect', 'holdout']
    """
    return pl.read_parquet(_path(SAMPLES_FILE))


def fashion_mnist_thumbnails() -> dict[Any, bytes]:
    """PNG thumbnails (28 x 28 grey) of the images the demo's report shows, by sample id.

    Examples
    --------
    >>> thumbs = fashion_mnist_thumbnails()
    >>> next(iter(thumbs.values()))[:4]
    b'\\x89PNG'
    """
    df = pl.read_parquet(_path(THUMBNAILS_FILE))
    return dict(zip(df["id"].to_list(), df["image"].to_list(), strict=True))
