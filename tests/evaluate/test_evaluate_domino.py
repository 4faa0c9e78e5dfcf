"""The DOMINO-style baseline: EM that never loses likelihood, and planted slices recovered."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from prime_rs import InputError, ParameterError
from prime_rs.evaluate import DominoMixture, describe, domino_slices, pca
from prime_rs.evaluate.domino import _one_hot


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def planted_class(
    rng: np.random.Generator, label: str, *, d: int = 48, offset: int = 0
) -> tuple[pl.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    """One class: 4 background blobs (10% errors), a planted blob (85% errors, mistaken for
    'wolf') and a benign blob as distinct as the planted one but without errors."""
    centres = rng.normal(0, 1, (6, d)) * 2.5
    sizes = [130, 130, 130, 130, 80, 80]
    emb = np.concatenate(
        [c + rng.normal(0, 1, (n, d)) for c, n in zip(centres, sizes, strict=True)]
    )
    group = np.repeat(np.arange(6), sizes)
    wrong = np.where(group == 4, rng.random(len(group)) < 0.85, rng.random(len(group)) < 0.10)
    n = len(group)
    samples = pl.DataFrame(
        {
            "id": [f"{label}{offset + i}" for i in range(n)],
            "label": [label] * n,
            "prediction": np.where(wrong, "wolf", label).tolist(),
            "tags": [[]] * n,
        }
    )
    mean = emb.mean(axis=0)
    directions = {
        "planted": _unit(centres[4] - mean),
        "benign": _unit(centres[5] - mean),
    }
    return samples.with_columns(group=pl.Series(group)), emb, directions


# -- PCA -----------------------------------------------------------------------------------


def test_pca_matches_the_definition() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 6)) @ rng.normal(size=(6, 6))
    z, comps, mean = pca(x, 6)
    assert np.allclose(z @ comps + mean, x)  # all components: an exact rotation
    assert np.allclose(comps @ comps.T, np.eye(6), atol=1e-10)
    variances = z.var(axis=0)
    assert np.all(np.diff(variances) <= 1e-12)  # sorted by explained variance
    z2, _, _ = pca(x, 2)
    assert np.allclose(z2, z[:, :2])
    assert pca(x, 100)[0].shape == (50, 6)  # capped at the data's rank bound


# -- the mixture ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "y_weight", "y_hat_weight", "soft"),
    [(0, 10.0, 10.0, False), (1, 1.0, 1.0, True), (2, 0.0, 0.0, False), (3, 10.0, 0.5, True)],
)
def test_em_objective_never_decreases(
    seed: int, y_weight: float, y_hat_weight: float, soft: bool
) -> None:
    rng = np.random.default_rng(seed)
    n, d, k = 400, 5, 3
    z = np.concatenate(
        [rng.normal(m, s, (n // 4, d)) for m, s in [(0, 1), (3, 0.5), (-2, 2), (1, 3)]]
    )
    y = _one_hot(rng.integers(0, k, n), k)
    y_hat = rng.dirichlet(np.ones(k), size=n) if soft else _one_hot(rng.integers(0, k, n), k)
    m = DominoMixture(
        8, y_weight=y_weight, y_hat_weight=y_hat_weight, tol=0.0, max_iter=60, seed=seed
    ).fit(z, y, y_hat)
    ll = np.asarray(m.log_likelihoods_)
    assert m.n_iter_ == 60 or m.converged_
    assert len(ll) > 10
    steps = np.diff(ll)
    assert np.all(steps >= -1e-8 * np.abs(ll[1:])), steps.min()
    assert ll[-1] > ll[0]  # and EM did improve on the initialization
    resp = m.predict_proba(z, y, y_hat)
    assert np.allclose(resp.sum(axis=1), 1.0)
    assert np.allclose(m.weights_.sum(), 1.0)
    assert np.allclose(m.y_probs_.sum(axis=1), 1.0) and np.allclose(m.y_hat_probs_.sum(axis=1), 1.0)


def test_mixture_recovers_separated_clusters() -> None:
    rng = np.random.default_rng(4)
    truth = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    z = np.concatenate([c + rng.normal(0, 1, (100, 2)) for c in truth])
    ones = np.ones((300, 1))
    m = DominoMixture(3, y_weight=0, y_hat_weight=0).fit(z, ones, ones)
    found = m.means_[np.argsort(m.means_[:, 0] + 2 * m.means_[:, 1])]
    assert np.allclose(found, truth, atol=0.3)
    assert np.allclose(m.variances_, 1.0, atol=0.3)
    labels = m.predict(z, ones, ones)
    assert all(len(set(labels[i * 100 : (i + 1) * 100])) == 1 for i in range(3))


def test_prediction_term_makes_the_mixture_error_aware() -> None:
    # One blob; errors where the first coordinate is large. Without the prediction term the
    # components ignore errors; with it, a component gathers them.
    rng = np.random.default_rng(5)
    z = rng.normal(size=(600, 4))
    wrong = z[:, 0] > 0.9
    y_hat = _one_hot(wrong.astype(int), 2)
    y2 = _one_hot(np.zeros(600, dtype=int), 2)

    def worst_slice_error(weight: float) -> float:
        m = DominoMixture(6, y_weight=1, y_hat_weight=weight, seed=0).fit(z, y2, y_hat)
        assign = m.predict(z, y2, y_hat)
        best = int(np.argmax(m.gaps))
        return float(wrong[assign == best].mean())

    assert worst_slice_error(10.0) > 0.95
    assert worst_slice_error(10.0) > worst_slice_error(0.0) + 0.2


def test_mixture_rejects_bad_input() -> None:
    z = np.zeros((5, 2))
    ok = np.ones((5, 1))
    with pytest.raises(ParameterError, match="n_components"):
        DominoMixture(0)
    with pytest.raises(ParameterError, match="y_weight"):
        DominoMixture(2, y_weight=-1)
    with pytest.raises(ParameterError, match="components for 5 samples"):
        DominoMixture(6).fit(z, ok, ok)
    with pytest.raises(InputError, match="probability distribution"):
        DominoMixture(2).fit(z, ok * 2, ok)
    with pytest.raises(InputError, match="one row per sample"):
        DominoMixture(2).fit(z, ok[:3], ok)
    with pytest.raises(InputError, match="NaN"):
        DominoMixture(2).fit(np.full((5, 2), np.nan), ok, ok)


def test_describe_picks_the_closest_phrase() -> None:
    text = np.eye(3)
    out = describe(np.array([[0.1, 0.9, 0.2], [-1.0, 0.0, 0.5]]), ["a", "b", "c"], text, top=2)
    assert out == [[("b", 0.9), ("c", 0.2)], [("c", 0.5), ("b", 0.0)]]
    with pytest.raises(InputError, match="same model"):
        describe(np.zeros((1, 2)), ["a", "b", "c"], text)


# -- slices --------------------------------------------------------------------------------


def test_domino_recovers_the_planted_slice() -> None:
    rng = np.random.default_rng(7)
    samples, emb, directions = planted_class(rng, "fox")
    vocab = ["planted", "benign", *[f"noise {i}" for i in range(20)]]
    text = np.stack(
        [directions["planted"], directions["benign"], *rng.normal(size=(20, emb.shape[1]))]
    )
    text = text / np.linalg.norm(text, axis=1, keepdims=True)
    slices = domino_slices(
        samples.drop("group"),
        emb,
        n_slices=2,
        n_components=10,
        min_size=20,
        vocabulary=vocab,
        text_embeddings=text,
        show_progress=False,
    )
    assert slices["slice"].to_list() == [1, 2]
    top = slices.row(0, named=True)
    members = set(top["ids"])
    planted = samples.filter(pl.col("group") == 4)
    planted_errors = set(planted.filter(pl.col("prediction") != "fox")["id"].to_list())
    # Error-aware: the slice is the planted blob's errors, all of them and nothing else
    # (its few correct images go elsewhere).
    assert members == planted_errors
    assert top["accuracy"] == 0.0 and top["drop"] > 0.8
    assert top["gap"] == pytest.approx(1 - top["accuracy"], abs=0.01)
    assert top["description"] == "planted"
    assert top["caption"] == "a photo of a fox, planted"
    assert top["support"] == len(members)
    # The benign blob is just as distinct but has no errors: it is not a top slice.
    benign = set(samples.filter(pl.col("group") == 5)["id"].to_list())
    assert not any(set(ids) & benign for ids in slices["ids"].to_list())
    assert slices["gap"].to_list() == sorted(slices["gap"].to_list(), reverse=True)
    assert (slices["accuracy_low"] <= slices["accuracy"]).all()
    assert (slices["accuracy"] <= slices["accuracy_high"]).all()


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_domino_ranks_the_planted_slice_high(seed: int) -> None:
    rng = np.random.default_rng(seed)
    samples, emb, _ = planted_class(rng, "fox")
    slices = domino_slices(
        samples.drop("group"), emb, n_slices=2, n_components=10, min_size=20, show_progress=False
    )
    planted = samples.filter(pl.col("group") == 4)
    planted_ids = set(planted["id"].to_list())
    errors = set(planted.filter(pl.col("prediction") != "fox")["id"].to_list())
    hits = [
        ids
        for ids in slices["ids"].to_list()
        if len(set(ids) & planted_ids) >= 0.95 * len(ids)
        and len(set(ids) & errors) >= 0.9 * len(errors)
    ]
    assert hits, slices.select("slice", "support", "accuracy", "gap")


def test_domino_per_class_counts_and_embeddings_table() -> None:
    rng = np.random.default_rng(8)
    a, emb_a, _ = planted_class(rng, "fox", d=16)
    b, emb_b, _ = planted_class(rng, "cat", d=16, offset=10_000)
    samples = pl.concat([a, b]).drop("group")
    emb = np.concatenate([emb_a, emb_b])
    from prime_rs.evaluate import embeddings_table

    table = embeddings_table(samples["id"], emb).sample(fraction=1.0, shuffle=True, seed=1)
    out = domino_slices(
        samples,
        table,
        n_slices={"fox": 2, "cat": 1, "dog": 3},
        n_components=8,
        show_progress=False,
    )
    assert out.group_by("label").len().sort("label").rows() == [("cat", 1), ("fox", 2)]
    assert out["description"].null_count() == out.height  # no vocabulary: no descriptions
    for r in out.filter(pl.col("slice") == 1).iter_rows(named=True):
        assert r["accuracy"] < 0.3  # the planted blob of each class comes first
        assert all(str(i).startswith(r["label"]) for i in r["ids"])
    # Deterministic for a seed.
    again = domino_slices(
        samples, table, n_slices={"fox": 2, "cat": 1}, n_components=8, show_progress=False
    )
    assert again.equals(out)


def test_domino_without_predictions_uses_correctness() -> None:
    rng = np.random.default_rng(9)
    samples, emb, _ = planted_class(rng, "fox", d=16)
    only_correct = samples.with_columns(correct=pl.col("prediction") == pl.col("label")).drop(
        "prediction", "group"
    )
    out = domino_slices(only_correct, emb, n_slices=1, n_components=8, show_progress=False)
    assert out["accuracy"][0] < 0.3


def test_domino_rejects_bad_input() -> None:
    rng = np.random.default_rng(10)
    samples, emb, _ = planted_class(rng, "fox", d=8)
    samples = samples.drop("group")
    with pytest.raises(ParameterError, match="both vocabulary and text_embeddings"):
        domino_slices(samples, emb, vocabulary=["a"], show_progress=False)
    with pytest.raises(InputError, match="expected shape"):
        domino_slices(
            samples,
            emb,
            vocabulary=["a"],
            text_embeddings=np.zeros((1, 3)),
            show_progress=False,
        )
    with pytest.raises(InputError, match="one row per sample"):
        domino_slices(samples, emb[:10], show_progress=False)
