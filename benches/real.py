"""Real public data sets for the benchmarks, with a real classifier's errors.

The raw files live in ``benches/data/`` (see its README.md for sources and licences). Each
loader turns one into a samples table (``id``, ``label``, ``prediction``, ``tags``): the label is
the data set's own class attribute (removed from the tags), and the prediction comes from a
Bernoulli naive Bayes classifier (numpy only) trained on a random half of the rows (fixed
seed) and applied to every row, so the errors are a real model's: mostly on the held-out
half, and concentrated where the tags mislead it.

>>> samples = load("chess")
>>> samples.height, sorted(samples["label"].unique().to_list())
(3196, ['nowin', 'won'])
>>> round(float((samples["label"] != samples["prediction"]).mean()), 3)
0.116
>>> digits = load("digits")
>>> digits.height, digits["label"].n_unique(), round(float(digits["tags"].list.len().mean()), 1)
(1797, 10, 20.7)
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
SEED = 0


def _naive_bayes(features: np.ndarray, labels: np.ndarray, seed: int = SEED) -> np.ndarray:
    """Bernoulli naive Bayes (Laplace smoothing) fitted on a random half, predicted on all.

    ``features``: boolean (rows x features); ``labels``: class ids 0..k-1. Returns the
    predicted class id of every row.
    """
    rng = np.random.default_rng(seed)
    train = rng.permutation(len(labels))[: len(labels) // 2]
    x, y = features[train].astype(np.float64), labels[train]
    k = int(labels.max()) + 1
    log_prior = np.log(np.bincount(y, minlength=k) + 1.0) - np.log(len(y) + k)
    present = np.stack([(x[y == c].sum(axis=0) + 1.0) / ((y == c).sum() + 2.0) for c in range(k)])
    log_on, log_off = np.log(present), np.log1p(-present)
    f = features.astype(np.float64)
    scores = log_prior + f @ log_on.T + (1.0 - f) @ log_off.T
    return scores.argmax(axis=1)


def _table(ids: list[Any], labels: list[str], predictions: list[str], tags: list[list[str]]) -> Any:
    import polars as pl

    return pl.DataFrame(
        {"id": ids, "label": labels, "prediction": predictions, "tags": tags},
        schema={
            "id": pl.Int64,
            "label": pl.String,
            "prediction": pl.String,
            "tags": pl.List(pl.String),
        },
    )


def _fimi(name: str, classes: dict[int, str], drop: frozenset[int] = frozenset()) -> Any:
    """A FIMI-format transaction file whose class attribute is one of the items ``classes``;
    the items ``drop`` are left out."""
    with gzip.open(DATA / f"{name}.dat.gz", "rt") as f:
        # Item 0 ends every line of the mushroom copy (a terminator, not an item): dropped.
        rows = [
            [x for x in map(int, line.split()) if x != 0 and x not in drop]
            for line in f
            if line.strip()
        ]
    label_of = []
    items_of = []
    for row in rows:
        cls = [x for x in row if x in classes]
        if len(cls) != 1:
            raise ValueError(f"{name}: a row with class items {cls}")
        label_of.append(cls[0])
        items_of.append(sorted(x for x in row if x not in classes))
    vocabulary = sorted({x for items in items_of for x in items})
    column = {item: j for j, item in enumerate(vocabulary)}
    features = np.zeros((len(rows), len(vocabulary)), dtype=bool)
    for i, items in enumerate(items_of):
        features[i, [column[x] for x in items]] = True
    class_items = sorted(classes)
    y = np.asarray([class_items.index(c) for c in label_of])
    predicted = _naive_bayes(features, y)
    names = [classes[c] for c in class_items]
    return _table(
        list(range(len(rows))),
        [names[c] for c in y],
        [names[c] for c in predicted],
        [[f"item{x}" for x in items] for items in items_of],
    )


# Adult's attributes kept as tags (name -> how to bin it); fnlwgt (a sampling weight) and
# education-num (a copy of education) are left out.
_ADULT_COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
    "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
    "hours-per-week", "native-country", "income",
)  # fmt: skip


def _adult_bin(name: str, value: str) -> str | None:
    if value == "?":
        return None  # missing: no tag
    if name == "age":
        age = int(value)
        return f"age={min(age // 10 * 10, 70)}s"
    if name in ("capital-gain", "capital-loss"):
        return f"{name}={'none' if int(value) == 0 else 'some'}"
    if name == "hours-per-week":
        hours = int(value)
        return "hours=" + ("<35" if hours < 35 else "35-40" if hours <= 40 else ">40")
    if name == "native-country":
        return "country=" + ("US" if value == "United-States" else "other")
    return f"{name}={value}"


def _adult() -> Any:
    tags: list[list[str]] = []
    income: list[str] = []
    with gzip.open(DATA / "adult.data.gz", "rt") as f:
        for line in f:
            fields = [x.strip() for x in line.split(",")]
            if len(fields) != len(_ADULT_COLUMNS):
                continue  # the file's last, empty line
            row = dict(zip(_ADULT_COLUMNS, fields, strict=True))
            income.append(row.pop("income"))
            row.pop("fnlwgt")
            row.pop("education-num")
            tags.append(sorted(t for k, v in row.items() if (t := _adult_bin(k, v)) is not None))
    vocabulary = sorted({t for row in tags for t in row})
    column = {t: j for j, t in enumerate(vocabulary)}
    features = np.zeros((len(tags), len(vocabulary)), dtype=bool)
    for i, row in enumerate(tags):
        features[i, [column[t] for t in row]] = True
    names = sorted(set(income))
    y = np.asarray([names.index(v) for v in income])
    predicted = _naive_bayes(features, y)
    return _table(list(range(len(tags))), income, [names[c] for c in predicted], tags)


def _digits() -> Any:
    # scikit-learn's bundled copy of the UCI optical digits test set (1,797 images of 8 x 8
    # pixels, values 0-16): a pixel with ink (8 or more) is a tag, the digit the label.
    from sklearn.datasets import load_digits

    digits = load_digits()
    ink = np.asarray(digits.data) >= 8
    y = np.asarray(digits.target)
    predicted = _naive_bayes(ink, y)
    tags = [[f"px{j}" for j in np.flatnonzero(row)] for row in ink]
    return _table(list(range(len(y))), [str(v) for v in y], [str(v) for v in predicted], tags)


def load(name: str) -> Any:
    """The samples table (Polars) of the real data set ``name``: chess, mushroom, connect,
    adult or digits."""
    if name == "chess":
        # UCI kr-vs-kp: items 1 and 2 are the class (White can win: 1,669; cannot: 1,527).
        return _fimi("chess", {1: "won", 2: "nowin"})
    if name == "mushroom":
        # UCI mushroom: items 1 and 2 are the class (3,916 poisonous, 4,208 edible).
        return _fimi("mushroom", {1: "poisonous", 2: "edible"})
    if name == "connect":
        # UCI connect-4, its first 10,000 rows (all won by the first player: the outcome item
        # 127 is in every row, so it is left out). The label is the board's eighth cell (items
        # 22, 23, 24: the cell whose three values are the most even), predicted from the
        # other 41 cells; items are named as in the file, as the file does not say which
        # item is which mark.
        return _fimi("connect", {22: "item22", 23: "item23", 24: "item24"}, frozenset({127}))
    if name == "adult":
        return _adult()
    if name == "digits":
        return _digits()
    raise ValueError(
        f"unknown real data set {name!r}; known: chess, mushroom, connect, adult, digits"
    )
