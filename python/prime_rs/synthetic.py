"""Deterministic synthetic samples tables with planted failure modes.

Used by tests, benchmarks and ``prime demo --synthetic``. Each class draws its tags from a
pool of the vocabulary; tags come in *topics* (groups of tags that tend to appear together,
like "snow", "white", "winter"), which gives the lattice of frequent sets the shape real
tagger output has. Into each class we plant failure modes whose groups the classifier gets
mostly wrong, built so that their strict subsets stay easy (so only the full set is minimal):

* a 3-tag mode ``{a, b, c}``: ``planted_support`` samples carry all three with accuracy
  ``planted_accuracy``, and ``pair_support`` samples carry each pair without the third one at
  the class accuracy;
* a 2-tag mode ``{d, e}``: likewise, with ``single_support`` samples carrying one of the tags.

>>> from prime_rs import synthetic
>>> data = synthetic.generate(synthetic.SMALL)
>>> data.samples.columns
['id', 'label', 'prediction', 'correct', 'tags']
>>> data.planted.height
6
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from prime_rs._columns import list_column

__all__ = [
    "DENSE",
    "LARGE",
    "RAM_SIZED",
    "SMALL",
    "SPARSE",
    "Config",
    "Synthetic",
    "generate",
]

LIVING17 = (
    "salamander", "turtle", "lizard", "snake", "spider", "grouse", "parrot", "crab", "dog",
    "wolf", "fox", "domestic cat", "bear", "beetle", "butterfly", "ape", "monkey",
)  # fmt: skip

_WORDS = (
    "grass", "water", "sand", "snow", "rock", "tree", "branch", "leaf", "flower", "sky",
    "cloud", "forest", "field", "road", "fence", "wall", "floor", "window", "door", "table",
    "chair", "bed", "blanket", "pillow", "carpet", "cage", "net", "hand", "person", "child",
    "glove", "bucket", "bowl", "plate", "bottle", "toy", "ball", "rope", "log", "stone",
    "mud", "pond", "river", "lake", "beach", "wave", "ice", "hill", "mountain", "cave",
    "moss", "bark", "web", "shell", "feather", "fur", "scale", "tail", "eye", "mouth",
    "paw", "claw", "wing", "beak", "nest", "egg", "food", "fruit", "seed", "bush",
    "garden", "park", "zoo", "enclosure", "tank", "aquarium", "box", "basket", "car", "boat",
    "house", "roof", "street", "sidewalk", "lawn", "bench", "pole", "wire", "sign", "light",
    "shadow", "night", "fog", "rain", "sunset", "dirt", "straw", "hay", "bamboo", "vine",
)  # fmt: skip
_MODIFIERS = (
    "white", "black", "brown", "green", "blue", "red", "yellow", "grey", "orange", "pink",
    "dark", "bright", "wet", "dry", "small", "large", "close-up", "blurry", "old", "young",
    "striped", "spotted", "wooden", "metal", "plastic", "glass", "frozen", "muddy", "sunny",
    "shady", "indoor", "outdoor", "tall", "short", "long", "round", "flat", "soft", "hard",
    "broken", "colorful", "pale", "thick", "thin", "curly", "shiny", "dusty", "fresh",
    "hanging", "sleeping",
)  # fmt: skip


def tag_names(n: int) -> list[str]:
    """``n`` distinct, readable tag names ("grass", ..., "white grass", ...).

    >>> tag_names(3)
    ['grass', 'water', 'sand']
    """
    names = list(_WORDS) + [f"{m} {w}" for m in _MODIFIERS for w in _WORDS]
    if n > len(names):
        names += [f"concept {i}" for i in range(n - len(names))]
    return names[:n]


@dataclass(frozen=True)
class Config:
    """Shape of a synthetic data set; every field has a sensible default."""

    n_classes: int = 17
    samples_per_class: int = 5200
    tags_per_class: int = 100
    tags_per_sample: float = 8.0
    vocabulary_size: int = 300
    topics_per_class: int = 10
    #: Probability that a sample showing a topic carries each of the topic's tags.
    topic_strength: float = 0.5
    #: Range of class accuracies, drawn uniformly per class.
    class_accuracy: tuple[float, float] = (0.75, 0.95)
    planted_support: int = 60
    pair_support: int = 100
    single_support: int = 150
    planted_accuracy: float = 0.15
    seed: int = 0


SMALL = Config(
    n_classes=3, samples_per_class=2500, tags_per_class=40, tags_per_sample=6.0,
    vocabulary_size=80, topics_per_class=5, planted_support=40, pair_support=80,
    single_support=120,
)  # fmt: skip
SPARSE = Config(tags_per_sample=8.0, topics_per_class=20, topic_strength=0.3)
DENSE = Config(tags_per_sample=14.0, topic_strength=0.58)
LARGE = Config(
    samples_per_class=60_000, tags_per_class=300, tags_per_sample=12.0, vocabulary_size=1000,
    topics_per_class=30, topic_strength=0.62, planted_support=300, pair_support=500,
    single_support=800,
)  # fmt: skip
RAM_SIZED = Config(
    n_classes=100, samples_per_class=10_000, tags_per_class=500, tags_per_sample=12.0,
    vocabulary_size=4585, topics_per_class=50, topic_strength=0.6, planted_support=150,
    pair_support=250, single_support=400,
)  # fmt: skip


@dataclass(frozen=True)
class Synthetic:
    """A generated data set: the samples table and the planted modes (``label, tags``)."""

    samples: pl.DataFrame
    planted: pl.DataFrame
    config: Config


def class_names(n: int) -> list[str]:
    """Living17's class names, then ``class 17``, ``class 18``, ...

    >>> class_names(2)
    ['salamander', 'turtle']
    """
    return [LIVING17[i] if i < len(LIVING17) else f"class {i}" for i in range(n)]


def generate(config: Config = SPARSE, **overrides: object) -> Synthetic:
    """Generate a samples table; the same config and seed always give the same table.

    Parameters
    ----------
    config
        One of the presets (``SMALL``, ``SPARSE``, ``DENSE``, ``LARGE``, ``RAM_SIZED``) or
        your own :class:`Config`.
    **overrides
        Fields of the config to change, e.g. ``seed=3``.

    Examples
    --------
    >>> a = generate(SMALL, seed=1).samples
    >>> b = generate(SMALL, seed=1).samples
    >>> a.equals(b)
    True
    """
    cfg = replace(config, **overrides) if overrides else config  # type: ignore[arg-type]
    planted_n = cfg.planted_support + 3 * cfg.pair_support + 3 * cfg.single_support
    if cfg.samples_per_class < planted_n:
        raise ValueError(
            f"samples_per_class={cfg.samples_per_class} cannot hold the planted groups "
            f"({planted_n} samples); lower planted_support, pair_support and single_support"
        )
    if cfg.tags_per_class > cfg.vocabulary_size:
        raise ValueError("tags_per_class cannot exceed vocabulary_size")
    rng = np.random.default_rng(cfg.seed)
    names = np.array(tag_names(cfg.vocabulary_size), dtype=object)
    labels = class_names(cfg.n_classes)

    rows_parts, cols_parts, correct_parts, acc_parts = [], [], [], []
    planted_rows: list[tuple[str, list[str]]] = []
    n = cfg.samples_per_class
    for c in range(cfg.n_classes):
        pool = rng.choice(cfg.vocabulary_size, cfg.tags_per_class, replace=False)
        planted_tags, topic_tags = pool[:5], pool[5:]
        m = len(topic_tags)
        topic_of = rng.integers(0, cfg.topics_per_class, size=m)
        # Each sample shows one or two topics.
        first = rng.integers(0, cfg.topics_per_class, size=n)
        second = np.where(rng.random(n) < 0.5, rng.integers(0, cfg.topics_per_class, size=n), -1)
        shows = (topic_of[None, :] == first[:, None]) | (topic_of[None, :] == second[:, None])
        topic_mass = shows.sum(axis=1).mean() * cfg.topic_strength
        background = max(cfg.tags_per_sample - topic_mass, 0.0) / m
        prob = np.where(shows, cfg.topic_strength, 0.0) + background
        has = rng.random((n, m)) < prob
        rows, cols = np.nonzero(has)
        global_cols = topic_tags[cols]

        class_acc = rng.uniform(*cfg.class_accuracy)
        # Topics shift accuracy a little, so some sets come close to being modes.
        topic_shift = rng.normal(0.0, 0.04, size=cfg.topics_per_class)
        p_correct = np.clip(class_acc + topic_shift[first], 0.02, 0.99)

        # Planted groups on disjoint, randomly chosen samples.
        perm = rng.permutation(n)
        a, b, cc, d, e = planted_tags
        sizes = [cfg.planted_support] + [cfg.pair_support] * 3 + [cfg.single_support] * 3
        groups = np.split(perm[: sum(sizes)], np.cumsum(sizes)[:-1])
        # The 2-tag mode {d, e}: its group is half of a single tag's.
        de = groups[4][: cfg.single_support // 2]
        gifts = [
            (groups[0], (a, b, cc)),
            (groups[1], (a, b)),
            (groups[2], (a, cc)),
            (groups[3], (b, cc)),
            (de, (d, e)),
            (groups[5], (d,)),
            (groups[6], (e,)),
        ]
        extra_rows = [members for members, tags in gifts for _ in tags]
        extra_cols = [np.full(len(members), t) for members, tags in gifts for t in tags]
        p_correct[groups[0]] = cfg.planted_accuracy
        p_correct[de] = cfg.planted_accuracy
        planted_rows.append((labels[c], sorted(names[[a, b, cc]].tolist())))
        planted_rows.append((labels[c], sorted(names[[d, e]].tolist())))

        all_rows = np.concatenate([rows, *extra_rows]) + c * n
        all_cols = np.concatenate([global_cols, *extra_cols])
        rows_parts.append(all_rows)
        cols_parts.append(all_cols)
        correct_parts.append(rng.random(n) < p_correct)
        acc_parts.append(class_acc)

    rows = np.concatenate(rows_parts)
    cols = np.concatenate(cols_parts)
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    keep = np.ones(len(rows), dtype=bool)
    keep[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols = rows[keep], cols[keep]
    total = cfg.n_classes * n
    row_sizes = np.bincount(rows, minlength=total)
    offsets = np.concatenate([[0], np.cumsum(row_sizes)])
    tag_values = pl.Series(names[cols].tolist(), dtype=pl.String)
    tags = list_column(tag_values, offsets, row_sizes)

    label_col = np.repeat(np.array(labels, dtype=object), n)
    correct = np.concatenate(correct_parts)
    # A wrong prediction names another class, chosen at random.
    other = np.repeat(np.arange(cfg.n_classes), n) + rng.integers(1, max(cfg.n_classes, 2), total)
    other %= max(cfg.n_classes, 1)
    pred_idx = np.where(correct, np.repeat(np.arange(cfg.n_classes), n), other)
    samples = pl.DataFrame(
        {
            "id": pl.Series(np.arange(total), dtype=pl.Int64),
            "label": pl.Series(label_col.tolist(), dtype=pl.String),
            "prediction": pl.Series(
                np.array(labels, dtype=object)[pred_idx].tolist(), dtype=pl.String
            ),
            "correct": pl.Series(correct, dtype=pl.Boolean),
            "tags": tags,
        }
    )
    if cfg.n_classes == 1:
        samples = samples.drop("prediction")
    planted = pl.DataFrame(
        {"label": [r[0] for r in planted_rows], "tags": [r[1] for r in planted_rows]},
        schema={"label": pl.String, "tags": pl.List(pl.String)},
    )
    return Synthetic(samples=samples, planted=planted, config=cfg)
