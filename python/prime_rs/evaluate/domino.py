"""A DOMINO-style slice discovery baseline (Eyuboglu et al., ICLR 2022), in numpy.

DOMINO fits an *error-aware* mixture model to image embeddings: each slice (mixture
component) ``s`` has a diagonal Gaussian over the PCA-reduced embedding ``z``, a categorical
distribution ``θ_s`` over the true label ``y`` and one ``θ̂_s`` over the prediction ``ŷ``.
The label and prediction terms are weighted by ``γ`` (``y_weight``) and ``γ̂``
(``y_hat_weight``), so components gather images that look alike *and* share their errors::

    log f_s(i) = log N(z_i; μ_s, diag σ²_s) + γ · Σ_k y_ik log θ_sk + γ̂ · Σ_k ŷ_ik log θ̂_sk

EM maximizes ``Σ_i log Σ_s π_s f_s(i)`` plus weak priors that keep every variance and
probability away from zero (an inverse-gamma prior pulling variances toward ``reg_covar``
with weight ``ν``; ``ε`` pseudo-counts on ``θ`` and ``θ̂``). Every M-step is the exact
maximizer of the expected complete-data objective, so the objective never decreases; it is
recorded in :attr:`DominoMixture.log_likelihoods_`.

Slices are ranked by the gap between label and prediction probability,
``max_k (θ_sk - θ̂_sk)`` (for one class: its error rate), and each is described by the
vocabulary phrase whose text embedding best matches the slice's mean embedding minus its
class's mean.

As PRIME's modes are groups of one class, :func:`domino_slices` fits one mixture per class
(the label term is then constant and the prediction term carries the errors).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from prime_rs.errors import InputError, ParameterError
from prime_rs.evaluate._common import DEFAULT_TEMPLATE, Groups, as_samples, caption, progress
from prime_rs.evaluate.embeddings import EmbeddingsLike, align_embeddings
from prime_rs.io import SamplesLike
from prime_rs.stats import wilson_interval

__all__ = ["DominoMixture", "describe", "domino_slices", "pca"]

_LOG_2PI = math.log(2 * math.pi)


def pca(x: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project ``x`` on its first principal components (eigenvectors of the centred data's
    Gram matrix; fewer components when the data has fewer directions of variance).

    Returns
    -------
    tuple
        ``(projected, components, mean)``: ``projected = (x - mean) @ components.T``.

    Examples
    --------
    >>> x = np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.1]])
    >>> z, comps, mean = pca(x, 1)
    >>> z.shape, bool(abs(abs(comps[0, 0]) - 1) < 0.01)
    ((3, 1), True)
    """
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    k = max(1, min(int(n_components), n, d))
    mean = x.mean(axis=0)
    centred = x - mean
    # The eigenvectors of the smaller of the two Gram matrices: many times faster than an SVD
    # of the whole (n, d) matrix, and exact up to rounding for these sizes.
    if n >= d:
        _, vectors = np.linalg.eigh(centred.T @ centred)
        comps = vectors[:, ::-1][:, :k].T
    else:
        values, vectors = np.linalg.eigh(centred @ centred.T)
        order = np.argsort(values)[::-1][:k]
        # Directions of (numerically) zero variance have no component to give.
        order = order[values[order] > 1e-10 * max(float(values.max()), 1e-300)]
        if len(order) == 0:
            order = np.argsort(values)[::-1][:1]
        scale = np.sqrt(np.maximum(values[order], 1e-300))
        comps = (centred.T @ vectors[:, order] / scale).T
        k = len(order)
    # A deterministic sign: the largest coefficient of each component is positive.
    signs = np.sign(comps[np.arange(k), np.abs(comps).argmax(axis=1)])
    comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
    return centred @ comps.T, comps, mean


def _logsumexp(a: np.ndarray) -> np.ndarray:
    top = np.max(a, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.asarray((top + np.log(np.exp(a - top).sum(axis=1, keepdims=True)))[:, 0])


def _one_hot(codes: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(codes), k), dtype=np.float64)
    out[np.arange(len(codes)), codes] = 1.0
    return out


class DominoMixture:
    """Error-aware Gaussian mixture with diagonal covariances, fitted by EM.

    Parameters
    ----------
    n_components
        Mixture components (DOMINO's ``n_mixture_components``; its default is 25).
    y_weight, y_hat_weight
        ``γ`` and ``γ̂``: weights of the label and prediction log-likelihoods (DOMINO's
        examples use 10 and 10).
    reg_covar
        Variance floor, as a fraction of the data's mean variance per dimension.
    prior_weight
        ``ν``: pseudo-observations behind the variance prior.
    pseudo_count
        ``ε``: pseudo-counts added to each label and prediction category.
    max_iter, tol
        EM stops after ``max_iter`` iterations or when the objective per sample gains
        less than ``tol``.
    seed
        Seed of the k-means++ initialization.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z = np.concatenate([rng.normal(0, 1, (50, 2)), rng.normal(8, 1, (50, 2))])
    >>> y = np.ones((100, 1))
    >>> m = DominoMixture(2, y_weight=0, y_hat_weight=0).fit(z, y, y)
    >>> sorted(np.bincount(m.predict(z, y, y)).tolist())
    [50, 50]
    >>> bool(np.all(np.diff(m.log_likelihoods_) >= -1e-9))
    True
    """

    def __init__(
        self,
        n_components: int = 25,
        *,
        y_weight: float = 10.0,
        y_hat_weight: float = 10.0,
        reg_covar: float = 1e-3,
        prior_weight: float = 1.0,
        pseudo_count: float = 1e-3,
        max_iter: int = 100,
        tol: float = 1e-6,
        seed: int = 0,
    ) -> None:
        if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)):
            raise ParameterError(f"n_components: must be an integer, got {n_components!r}")
        if n_components < 1:
            raise ParameterError(f"n_components: must be at least 1, got {n_components}")
        for name, value in (
            ("y_weight", y_weight),
            ("y_hat_weight", y_hat_weight),
            ("reg_covar", reg_covar),
            ("prior_weight", prior_weight),
            ("pseudo_count", pseudo_count),
            ("tol", tol),
        ):
            if not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
                raise ParameterError(f"{name}: must be a number >= 0, got {value!r}")
        if reg_covar <= 0 or prior_weight <= 0 or pseudo_count <= 0:
            raise ParameterError("reg_covar, prior_weight and pseudo_count must be positive")
        if max_iter < 1:
            raise ParameterError(f"max_iter: must be at least 1, got {max_iter}")
        self.n_components = int(n_components)
        self.y_weight = float(y_weight)
        self.y_hat_weight = float(y_hat_weight)
        self.reg_covar = float(reg_covar)
        self.prior_weight = float(prior_weight)
        self.pseudo_count = float(pseudo_count)
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.seed = seed
        self.means_: np.ndarray = np.zeros((0, 0))
        self.variances_: np.ndarray = np.zeros((0, 0))
        self.weights_: np.ndarray = np.zeros(0)
        self.y_probs_: np.ndarray = np.zeros((0, 0))
        self.y_hat_probs_: np.ndarray = np.zeros((0, 0))
        self._reg = 0.0
        #: The objective after each E-step (it never decreases).
        self.log_likelihoods_: list[float] = []
        self.n_iter_ = 0
        self.converged_ = False

    # -- the model ----------------------------------------------------------------------

    def _check(self, z: np.ndarray, y: np.ndarray, y_hat: np.ndarray) -> tuple[np.ndarray, ...]:
        z = np.asarray(z, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        y_hat = np.asarray(y_hat, dtype=np.float64)
        if z.ndim != 2 or y.ndim != 2 or y_hat.ndim != 2:
            raise InputError("z, y and y_hat must be 2-D arrays (samples x features/classes)")
        if not len(z) == len(y) == len(y_hat):
            raise InputError(
                f"z, y and y_hat need one row per sample: got {len(z)}, {len(y)}, {len(y_hat)}"
            )
        if len(z) == 0:
            raise InputError("no samples to fit")
        for name, a in (("y", y), ("y_hat", y_hat)):
            if (a < 0).any() or not np.allclose(a.sum(axis=1), 1.0):
                raise InputError(
                    f"{name}: each row must be a probability distribution (one-hot or soft)"
                )
        if not np.isfinite(z).all():
            raise InputError("z holds NaN or infinite values")
        return z, y, y_hat

    def _log_f(
        self, z: np.ndarray, y: np.ndarray, y_hat: np.ndarray, z2: np.ndarray | None = None
    ) -> np.ndarray:
        """``log π_s + log f_s(i)`` for every sample and component (``z2`` is ``z**2``)."""
        inv = 1.0 / self.variances_
        quad = (
            (z**2 if z2 is None else z2) @ inv.T
            - 2.0 * z @ (self.means_ * inv).T
            + (self.means_**2 * inv).sum(axis=1)[None, :]
        )
        log_det = np.log(self.variances_).sum(axis=1)
        log_gauss = -0.5 * (z.shape[1] * _LOG_2PI + log_det[None, :] + quad)
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights_)
        out = log_gauss + log_w[None, :]
        if self.y_weight:
            out += self.y_weight * (y @ np.log(self.y_probs_).T)
        if self.y_hat_weight:
            out += self.y_hat_weight * (y_hat @ np.log(self.y_hat_probs_).T)
        return np.asarray(out)

    def _log_prior(self) -> float:
        nu, reg, eps = self.prior_weight, self._reg, self.pseudo_count
        v = self.variances_
        total = float((-(nu / 2) * np.log(v) - nu * reg / (2 * v)).sum())
        total += self.y_weight * eps * float(np.log(self.y_probs_).sum())
        total += self.y_hat_weight * eps * float(np.log(self.y_hat_probs_).sum())
        return total

    def _m_step(
        self, z: np.ndarray, z2: np.ndarray, y: np.ndarray, y_hat: np.ndarray, r: np.ndarray
    ) -> None:
        nk = r.sum(axis=0)
        self.weights_ = nk / nk.sum()
        safe = np.where(nk > 0, nk, 1.0)
        rz = r.T @ z
        means = rz / safe[:, None]
        if self.means_.shape == means.shape:  # an empty component keeps its mean
            means = np.where((nk > 0)[:, None], means, self.means_)
        self.means_ = means
        sq = r.T @ z2 - 2.0 * means * rz + nk[:, None] * means**2
        sq = np.maximum(sq, 0.0)
        nu = self.prior_weight
        self.variances_ = (sq + nu * self._reg) / (nk[:, None] + nu)
        eps = self.pseudo_count
        self.y_probs_ = (r.T @ y + eps) / (nk[:, None] + eps * y.shape[1])
        self.y_hat_probs_ = (r.T @ y_hat + eps) / (nk[:, None] + eps * y_hat.shape[1])

    def _init_responsibilities(self, z: np.ndarray) -> np.ndarray:
        """Hard assignments of k-means (k-means++ seeds, a few Lloyd steps)."""
        n = len(z)
        k = self.n_components
        rng = np.random.default_rng(self.seed)
        centres = [z[rng.integers(n)]]
        d2 = ((z - centres[0]) ** 2).sum(axis=1)
        for _ in range(1, k):
            total = d2.sum()
            i = rng.integers(n) if total <= 0 else rng.choice(n, p=d2 / total)
            centres.append(z[i])
            d2 = np.minimum(d2, ((z - z[i]) ** 2).sum(axis=1))
        c = np.array(centres)
        assign = np.zeros(n, dtype=np.int64)
        for _ in range(10):
            dist = (z**2).sum(1)[:, None] - 2 * z @ c.T + (c**2).sum(1)[None, :]
            new = dist.argmin(axis=1)
            if _ > 0 and np.array_equal(new, assign):
                break
            assign = new
            for j in range(k):
                members = assign == j
                if members.any():
                    c[j] = z[members].mean(axis=0)
        return _one_hot(assign, k)

    def fit(self, z: np.ndarray, y: np.ndarray, y_hat: np.ndarray) -> DominoMixture:
        """Fit by EM.

        Parameters
        ----------
        z
            Embeddings, ``(n, d)`` (usually PCA-reduced).
        y, y_hat
            Label and prediction distributions, ``(n, k_y)`` and ``(n, k_ŷ)``: one-hot rows,
            or soft rows summing to 1 (e.g. the classifier's probabilities).
        """
        z, y, y_hat = self._check(z, y, y_hat)
        if self.n_components > len(z):
            raise ParameterError(
                f"n_components: {self.n_components} components for {len(z)} samples; use at "
                f"most {len(z)}"
            )
        self._reg = self.reg_covar * max(float(z.var(axis=0).mean()), 1e-12)
        z2 = z**2
        r = self._init_responsibilities(z)
        self._m_step(z, z2, y, y_hat, r)
        self.log_likelihoods_ = []
        self.converged_ = False
        previous = -np.inf
        for it in range(1, self.max_iter + 1):
            log_f = self._log_f(z, y, y_hat, z2)
            log_norm = _logsumexp(log_f)
            objective = float(log_norm.sum()) + self._log_prior()
            self.log_likelihoods_.append(objective)
            self.n_iter_ = it
            if (objective - previous) / len(z) < self.tol:
                self.converged_ = True
                break
            previous = objective
            r = np.exp(log_f - log_norm[:, None])
            self._m_step(z, z2, y, y_hat, r)
        return self

    def predict_proba(self, z: np.ndarray, y: np.ndarray, y_hat: np.ndarray) -> np.ndarray:
        """Responsibilities: the probability of each component for each sample."""
        z, y, y_hat = self._check(z, y, y_hat)
        log_f = self._log_f(z, y, y_hat)
        return np.asarray(np.exp(log_f - _logsumexp(log_f)[:, None]))

    def predict(self, z: np.ndarray, y: np.ndarray, y_hat: np.ndarray) -> np.ndarray:
        """The most likely component of each sample."""
        return np.asarray(self.predict_proba(z, y, y_hat).argmax(axis=1))

    @property
    def gaps(self) -> np.ndarray:
        """Per component: ``max_k (θ_sk - θ̂_sk)``, how much more a label is than it is predicted.

        Needs ``y`` and ``y_hat`` over the same categories.
        """
        if self.y_probs_.shape != self.y_hat_probs_.shape:
            raise InputError("gaps need y and y_hat over the same categories")
        return np.asarray((self.y_probs_ - self.y_hat_probs_).max(axis=1))


def describe(
    directions: np.ndarray, vocabulary: Sequence[str], text_embeddings: np.ndarray, top: int = 1
) -> list[list[tuple[str, float]]]:
    """The phrases whose text embeddings best match each direction (by dot product).

    Parameters
    ----------
    directions
        ``(m, d)``: e.g. a slice's mean image embedding minus its class's mean.
    vocabulary
        The candidate phrases.
    text_embeddings
        ``(len(vocabulary), d)``.
    top
        Phrases kept per direction.

    Examples
    --------
    >>> describe(np.array([[0.0, 1.0]]), ["snow", "grass"], np.array([[1.0, 0.0], [0.0, 1.0]]))
    [[('grass', 1.0)]]
    """
    t = np.asarray(text_embeddings, dtype=np.float64)
    if t.ndim != 2 or len(t) != len(vocabulary):
        raise InputError(
            f"text_embeddings: need one row per phrase ({len(vocabulary)}), got shape {t.shape}"
        )
    if len(vocabulary) == 0:
        raise InputError("vocabulary: give at least one phrase")
    d = np.asarray(directions, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] != t.shape[1]:
        raise InputError(
            f"directions have {d.shape[-1]} dimensions but text embeddings {t.shape[1]}; "
            "embed images and texts with the same model"
        )
    scores = d @ t.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    return [[(vocabulary[j], float(scores[i, j])) for j in row] for i, row in enumerate(order)]


def domino_slices(
    samples: SamplesLike,
    embeddings: EmbeddingsLike,
    *,
    n_slices: int | Mapping[Any, int] = 5,
    n_components: int | None = None,
    y_weight: float = 10.0,
    y_hat_weight: float = 10.0,
    n_pca_components: int = 128,
    min_size: int = 1,
    max_iter: int = 100,
    seed: int = 0,
    labels: Sequence[Any] | None = None,
    vocabulary: Sequence[str] | None = None,
    text_embeddings: np.ndarray | None = None,
    template: str = DEFAULT_TEMPLATE,
    confidence: float = 0.95,
    show_progress: bool = True,
) -> pl.DataFrame:
    """Find DOMINO slices in each class: error-aware mixtures over its image embeddings.

    Parameters
    ----------
    samples
        The samples table (``prediction`` gives the prediction term its classes; without it,
        only right or wrong).
    embeddings
        One image embedding per sample (array aligned with the rows, or an embeddings table).
    n_slices
        Slices returned per class, or a mapping ``label -> count`` (classes missing from it,
        or mapped to 0, get none): e.g. PRIME's number of modes per class.
    n_components
        Mixture components per class (default ``max(25, 2 * n_slices)``, at most the class
        size).
    y_weight, y_hat_weight
        ``γ`` and ``γ̂`` of :class:`DominoMixture`.
    n_pca_components
        Dimensions kept by PCA before the mixture (DOMINO: 128).
    min_size
        Components with fewer members (by most likely component) are not slices.
    max_iter, seed
        EM iterations and seed.
    labels
        Only these classes.
    vocabulary, text_embeddings
        Phrases and their text embeddings (same model as the images): each slice is
        described by the phrase best matching its mean embedding minus its class's mean.
    template
        Caption of a slice: ``{label}`` and ``{tags}`` (the phrase).
    confidence
        Level of the Wilson interval of each slice's accuracy.
    show_progress
        Show a progress bar over the classes.

    Returns
    -------
    polars.DataFrame
        One row per slice, by label then rank: ``label, slice`` (rank in its class, from 1),
        ``description, caption, description_score, support, accuracy, class_accuracy, drop,
        gap, accuracy_low, accuracy_high, ids`` (the members' sample ids).

    Examples
    --------
    >>> import polars as pl
    >>> rng = np.random.default_rng(0)
    >>> emb = np.concatenate([rng.normal(0, 1, (80, 4)), rng.normal(6, 1, (20, 4))])
    >>> s = pl.DataFrame({"id": range(100), "label": ["a"] * 100,
    ...                   "correct": [True] * 80 + [False] * 20, "tags": [[]] * 100})
    >>> out = domino_slices(s, emb, n_slices=1, n_components=4, show_progress=False)
    >>> out.select("support", "accuracy").row(0)
    (20, 0.0)
    """
    df = as_samples(samples)
    emb = align_embeddings(df, embeddings).astype(np.float64)
    if (vocabulary is None) != (text_embeddings is None):
        raise ParameterError("give both vocabulary and text_embeddings, or neither")
    if vocabulary is not None and text_embeddings is not None:
        vocabulary = list(vocabulary)
        if len(vocabulary) == 0:
            raise InputError("vocabulary: give at least one phrase")
        if np.asarray(text_embeddings).shape != (len(vocabulary), emb.shape[1]):
            raise InputError(
                f"text_embeddings: expected shape ({len(vocabulary)}, {emb.shape[1]}) (one row "
                f"per phrase, the images' dimension), got {np.asarray(text_embeddings).shape}"
            )
    if min_size < 1:
        raise ParameterError(f"min_size: must be at least 1, got {min_size}")
    groups = Groups(df)
    chosen = groups.classes if labels is None else [x for x in groups.classes if x in labels]
    if labels is not None and not chosen:
        raise InputError(f"none of the labels {list(labels)!r} is in the samples")
    has_pred = "prediction" in df.columns
    preds = (
        df["prediction"].cast(pl.String).to_list() if has_pred else None  # categories by name
    )
    ids = df["id"]
    out_rows: list[dict[str, Any]] = []
    for label in progress(chosen, total=len(chosen), desc="DOMINO", enabled=show_progress):
        want = n_slices.get(label, 0) if isinstance(n_slices, Mapping) else int(n_slices)
        if want <= 0:
            continue
        rows = groups.class_rows(label)
        n = len(rows)
        if n < 2:
            continue
        k = min(n_components or max(25, 2 * want), n)
        z, _, _ = pca(emb[rows], min(n_pca_components, n - 1))
        # Categories: the class itself first, then each other class it is mistaken for.
        correct = groups.correct[rows]
        if preds is not None:
            own = str(label)
            names = [own, *sorted({preds[i] for i in rows} - {own})]
            code = {name: j for j, name in enumerate(names)}
            pred_codes = np.array([0 if correct[t] else code[preds[i]] for t, i in enumerate(rows)])
        else:
            names = [str(label), "(wrong)"]
            pred_codes = np.where(correct, 0, 1)
        y = _one_hot(np.zeros(n, dtype=np.int64), len(names))
        y_hat = _one_hot(pred_codes, len(names))
        mixture = DominoMixture(
            k, y_weight=y_weight, y_hat_weight=y_hat_weight, max_iter=max_iter, seed=seed
        ).fit(z, y, y_hat)
        resp = mixture.predict_proba(z, y, y_hat)
        assign = resp.argmax(axis=1)
        sizes = np.bincount(assign, minlength=k)
        gaps = mixture.gaps
        candidates = [j for j in range(k) if sizes[j] >= min_size]
        candidates.sort(key=lambda j: (-gaps[j], -sizes[j], j))
        picked = candidates[:want]
        class_mean = emb[rows].mean(axis=0)
        class_acc = float(correct.mean())
        descriptions: list[list[tuple[str, float]]] = [[] for _ in picked]
        if vocabulary is not None and text_embeddings is not None and picked:
            weights = resp[:, picked]
            means = (weights.T @ emb[rows]) / weights.sum(axis=0)[:, None]
            descriptions = describe(means - class_mean, vocabulary, text_embeddings)
        for rank, (j, desc) in enumerate(zip(picked, descriptions, strict=True), start=1):
            members = rows[assign == j]
            acc = float(groups.correct[members].mean())
            phrase, score = desc[0] if desc else (None, None)
            out_rows.append(
                {
                    "label": label,
                    "slice": rank,
                    "description": phrase,
                    "caption": caption(label, [phrase], template) if phrase else None,
                    "description_score": score,
                    "support": len(members),
                    "n_correct": int(groups.correct[members].sum()),
                    "accuracy": acc,
                    "class_accuracy": class_acc,
                    "drop": class_acc - acc,
                    "gap": float(gaps[j]),
                    "ids": ids.gather(members).to_list(),
                }
            )
    schema: dict[str, Any] = {
        "label": groups.labels.dtype,
        "slice": pl.Int64,
        "description": pl.String,
        "caption": pl.String,
        "description_score": pl.Float64,
        "support": pl.Int64,
        "n_correct": pl.Int64,
        "accuracy": pl.Float64,
        "class_accuracy": pl.Float64,
        "drop": pl.Float64,
        "gap": pl.Float64,
        "ids": pl.List(ids.dtype),
    }
    out = pl.DataFrame(out_rows, schema=schema)
    low, high = wilson_interval(out["n_correct"].to_numpy(), out["support"].to_numpy(), confidence)
    return out.with_columns(
        accuracy_low=pl.Series(low, dtype=pl.Float64),
        accuracy_high=pl.Series(high, dtype=pl.Float64),
    ).select(
        "label",
        "slice",
        "description",
        "caption",
        "description_score",
        "support",
        "accuracy",
        "class_accuracy",
        "drop",
        "gap",
        "accuracy_low",
        "accuracy_high",
        "ids",
    )
