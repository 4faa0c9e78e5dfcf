"""The evaluation's metrics against hand-computed values on tiny inputs (and sklearn's AUROC)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

import prime_rs
from prime_rs import InputError, ParameterError
from prime_rs.evaluate import (
    auroc,
    caption,
    description_quality,
    distance_by_shared_tags,
    embeddings_table,
    group_captions,
    ladder,
    neighbor_shared_tags,
    quality_summary,
    retrieval_generalization,
    tag_overlap,
    tag_overlap_summary,
)
from prime_rs.evaluate._common import Groups, pearson, select_split, split_samples

# -- AUROC ----------------------------------------------------------------------------------


def test_auroc_hand_computed() -> None:
    # Pairs (pos, neg): (0.9, 0.5) win, (0.9, 0.1) win, (0.4, 0.5) loss, (0.4, 0.1) win.
    assert auroc([1, 1, 0, 0], [0.9, 0.4, 0.5, 0.1]) == 0.75
    assert auroc([True, False], [0.2, 0.2]) == 0.5  # a tie counts one half
    assert auroc([0, 1], [0.9, 0.1]) == 0.0
    # Ties across and within classes: pos {1, 1, 2}, neg {1, 0}:
    # (1,1)=.5 (1,0)=1, twice, (2,1)=1 (2,0)=1 -> 5/6.
    assert auroc([1, 1, 1, 0, 0], [1, 1, 2, 1, 0]) == pytest.approx(5 / 6)


@pytest.mark.parametrize("seed", range(6))
def test_auroc_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    y = rng.random(n) < rng.uniform(0.1, 0.9)
    y[0], y[1] = True, False
    # Rounded scores give many ties.
    scores = np.round(rng.normal(size=n) + y * rng.uniform(0, 2), int(rng.integers(0, 3)))
    assert auroc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)


def test_auroc_rejects_bad_input() -> None:
    with pytest.raises(InputError, match="at least one positive and one negative"):
        auroc([1, 1], [0.1, 0.2])
    with pytest.raises(InputError, match="0/1"):
        auroc([2, 0], [0.1, 0.2])
    with pytest.raises(InputError, match="one length"):
        auroc([1, 0, 1], [0.1, 0.2])
    with pytest.raises(InputError, match="NaN"):
        auroc([1, 0], [np.nan, 0.2])


def test_pearson() -> None:
    assert pearson(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    assert pearson(np.array([1.0, 2.0]), np.array([1.0, 2.0])) is None  # too few points
    assert pearson(np.array([1.0, 1.0, 1.0]), np.array([1.0, 2.0, 3.0])) is None


# -- captions, splits, groups --------------------------------------------------------------


def test_captions() -> None:
    assert caption("fox", ["night", "snow"]) == "a photo of a fox, night, snow"
    assert caption(3, ["x"], "class {label} with {tags}") == "class 3 with x"
    assert caption("fox", []) == "a photo of a fox"
    with pytest.raises(ParameterError, match="unknown field"):
        caption("fox", ["x"], "a {animal}")
    modes = pl.DataFrame({"label": ["fox"], "tags": [["snow"]]})
    assert group_captions(modes, ["{label}: {tags}", "a {tags} {label}"]) == [
        ["fox: snow", "a snow fox"]
    ]
    slices = pl.DataFrame({"label": ["fox", "fox"], "description": ["ice", None]})
    assert group_captions(slices) == [["a photo of a fox, ice"], None]
    with pytest.raises(ParameterError, match="neither"):
        group_captions(modes, ["no fields"])


def test_select_split_errors() -> None:
    df = pl.DataFrame({"id": [1, 2], "split": ["val", "test"]})
    with pytest.raises(InputError, match=r"no row has split == 'train'.*'test', 'val'"):
        select_split(df, "split", "train")
    with pytest.raises(InputError, match="no column 'fold'"):
        select_split(df, "fold", "val")
    samples = df.with_columns(label=pl.lit("a"), correct=pl.lit(True), tags=pl.lit([]))
    with pytest.raises(ParameterError, match="unseen"):
        split_samples(samples, "split", "val", "val")


def test_groups_membership() -> None:
    df = prime_rs.load_samples(
        pl.DataFrame(
            {
                "id": range(6),
                "label": ["a", "a", "a", "a", "b", "b"],
                "correct": [True, False, True, False, True, True],
                "tags": [["x", "y", "x"], ["x"], ["y"], [], ["x"], ["x", "y"]],
            }
        )
    )
    g = Groups(df)
    assert g.classes == ["a", "b"]
    assert g.class_rows("a").tolist() == [0, 1, 2, 3]
    assert g.members("a", ["x"]).tolist() == [0, 1]
    assert g.members("a", ["y", "x"]).tolist() == [0]
    assert g.members("b", ["x", "y"]).tolist() == [5]
    assert g.members("a", ["nope"]).tolist() == []
    assert g.members("zzz", []).tolist() == []
    assert g.shared_counts("a", ["x", "y"]).tolist() == [2, 1, 1, 0]
    assert g.accuracy(g.class_rows("a")) == 0.5
    assert g.accuracy(g.members("a", ["nope"])) is None


# -- Table 1 / 4: the ladder ----------------------------------------------------------------


@pytest.fixture
def ape() -> pl.DataFrame:
    """10 apes: hang + branch are hard together, each alone is not."""
    tags = (
        [["hang", "branch"]] * 4  # 1 correct of 4
        + [["hang"]] * 2  # both correct
        + [["branch"]] * 2  # both correct
        + [[]] * 2  # both correct
    )
    correct = [True, False, False, False] + [True] * 6
    return pl.DataFrame({"id": range(10), "label": ["ape"] * 10, "correct": correct, "tags": tags})


def test_ladder_hand_computed(ape: pl.DataFrame) -> None:
    table = ladder(ape, "ape", "hang, branch")
    assert table["tags"].to_list() == [[], ["branch"], ["hang"], ["branch", "hang"]]
    assert table["n_tags"].to_list() == [0, 1, 1, 2]
    assert table["support"].to_list() == [10, 6, 6, 4]
    assert table["accuracy"].to_list() == pytest.approx([0.7, 3 / 6, 3 / 6, 0.25])
    assert table["drop"].to_list() == pytest.approx([0.0, 0.2, 0.2, 0.45])
    low, high = prime_rs.wilson_interval(np.array([7, 3, 3, 1]), np.array([10, 6, 6, 4]))
    assert table["accuracy_low"].to_list() == pytest.approx(low.tolist())
    assert table["accuracy_high"].to_list() == pytest.approx(high.tolist())
    # The engine agrees on every rung.
    index = prime_rs.TagIndex.from_samples(ape)
    for tags, support in zip(table["tags"], table["support"], strict=True):
        assert index.stats("ape", tags.to_list())["support"] == support


def test_ladder_with_holdout(ape: pl.DataFrame) -> None:
    holdout = pl.DataFrame(
        {
            "id": range(4),
            "label": ["ape"] * 4,
            "correct": [False, True, True, True],
            "tags": [["hang", "branch"], ["hang"], [], ["other"]],
        }
    )
    table = ladder(ape, "ape", ["hang", "branch"], holdout=holdout)
    assert table["holdout_support"].to_list() == [4, 1, 2, 1]
    assert table["holdout_accuracy"].to_list() == pytest.approx([0.75, 0.0, 0.5, 0.0])
    assert table["holdout_drop"].to_list() == pytest.approx([0.0, 0.75, 0.25, 0.75])
    # A tag the holdout never saw: an empty group, not an error.
    none = ladder(ape, "ape", ["hang"], holdout=holdout.with_columns(tags=pl.lit([])))
    assert none["holdout_support"].to_list() == [4, 0]
    assert none["holdout_accuracy"].to_list() == [0.75, None]


def test_ladder_errors(ape: pl.DataFrame) -> None:
    with pytest.raises(InputError, match=r"unknown tag 'hnag'.*did you mean 'hang'"):
        ladder(ape, "ape", ["hnag"])
    with pytest.raises(InputError, match="unknown label 'apes'"):
        ladder(ape, "apes", ["hang"])
    with pytest.raises(InputError, match="at most 10"):
        ladder(ape, "ape", [f"t{i}" for i in range(11)])
    with pytest.raises(InputError, match="empty tag"):
        ladder(ape, "ape", "hang,,branch")


def test_ladder_numbered_classes() -> None:
    df = pl.DataFrame(
        {"id": [0, 1], "label": [3, 3], "correct": [True, False], "tags": [["x"], []]}
    )
    assert ladder(df, "3", ["x"])["support"].to_list() == [2, 1]


# -- Table 2: tag overlap ------------------------------------------------------------------


def test_tag_overlap_hand_computed() -> None:
    # Class a (8 samples), mode {x, y, z}: all three in rows 0-1, two of them in 2-4,
    # one in 5-6, none in 7.
    tags = [
        ["x", "y", "z"],
        ["x", "y", "z", "w"],
        ["x", "y"],
        ["y", "z"],
        ["x", "z"],
        ["x"],
        ["w"],
        [],
    ]
    correct = [False, False, True, False, True, True, True, True]
    holdout = pl.DataFrame({"id": range(8), "label": ["a"] * 8, "correct": correct, "tags": tags})
    modes = pl.DataFrame(
        {"label": ["a", "a", "b"], "tags": [["x", "y", "z"], ["x"], ["x", "y"]]},
    )
    t = tag_overlap(modes, holdout)
    # The 1-tag mode is left out; the mode of class b (absent) has empty groups.
    assert t["tags"].to_list() == [["x", "y", "z"], ["x", "y"]]
    row = t.row(0, named=True)
    class_acc = 5 / 8
    assert (row["support_all"], row["support_k_minus_1"], row["support_any"]) == (2, 5, 6)
    assert row["drop_all"] == pytest.approx(class_acc - 0.0)
    assert row["drop_k_minus_1"] == pytest.approx(class_acc - 2 / 5)
    assert row["drop_any"] == pytest.approx(class_acc - 3 / 6)
    assert t.row(1, named=True)["support_all"] == 0
    assert t.row(1, named=True)["drop_all"] is None
    summary = tag_overlap_summary(t)
    assert summary.rows() == [(3, 1, pytest.approx(5 / 8), pytest.approx(0.225), 0.125)]


# -- Tables 3, 5-7: embedding space ---------------------------------------------------------


@pytest.fixture
def geometry() -> tuple[pl.DataFrame, np.ndarray]:
    """Class a: two tight pairs sharing tags; class b: two images."""
    samples = pl.DataFrame(
        {
            "id": ["p", "q", "r", "s", "t", "u"],
            "label": ["a", "a", "a", "a", "b", "b"],
            "correct": [True] * 6,
            "tags": [["x", "y"], ["x", "y"], ["z"], ["z", "w"], ["x"], []],
        }
    )
    emb = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.0, 2.0], [1.0, 0.0], [-1.0, 0.0]])
    return samples, emb


def test_distance_by_shared_tags_hand_computed(geometry: tuple[pl.DataFrame, np.ndarray]) -> None:
    samples, emb = geometry
    t = distance_by_shared_tags(samples, emb, max_shared=2)
    # Class a's 6 pairs: (p,q) share 2, cos .8 -> d .2; (r,s) share 1, cos 1 -> d 0;
    # (p,r) (p,s) (q,r) (q,s) share 0: d 1, 1, .4, .4. Class b: (t,u) share 0, d 2.
    assert t["shared_tags"].to_list() == [0, 1, 2]
    assert t["n_pairs"].to_list() == [5, 1, 1]
    assert t["mean_distance"].to_list() == pytest.approx([(1 + 1 + 0.4 + 0.4 + 2) / 5, 0, 0.2])
    e = distance_by_shared_tags(samples, emb, metric="euclidean", labels=["a"])
    # (r,s): |(0,1)-(0,2)| = 1.
    assert e.filter(pl.col("shared_tags") == 1)["mean_distance"].item() == pytest.approx(1.0)
    # The same numbers from an embeddings table keyed by id, in another order.
    table = embeddings_table(samples["id"].reverse(), emb[::-1])
    assert distance_by_shared_tags(samples, table, max_shared=2).equals(
        distance_by_shared_tags(samples, emb, max_shared=2)
    )


def test_distance_sampling_is_seeded() -> None:
    rng = np.random.default_rng(0)
    n = 300
    samples = pl.DataFrame(
        {
            "id": range(n),
            "label": ["a"] * n,
            "correct": [True] * n,
            "tags": [[f"t{int(v)}"] for v in rng.integers(0, 3, n)],
        }
    )
    emb = rng.normal(size=(n, 4))
    a = distance_by_shared_tags(samples, emb, pairs_per_class=500, seed=1)
    b = distance_by_shared_tags(samples, emb, pairs_per_class=500, seed=1)
    assert a.equals(b)
    assert int(a["n_pairs"].sum()) == 500


def test_neighbor_shared_tags_hand_computed(geometry: tuple[pl.DataFrame, np.ndarray]) -> None:
    samples, emb = geometry
    t = neighbor_shared_tags(samples, emb, n_neighbors=[1, 3], labels=["a"], show_progress=False)
    # Nearest (cosine) in class a: p->q (2 shared), q->p (2), r->s (1), s->r (1): mean 1.5,
    # which is also the best possible. With N = 3 every other image is a neighbour.
    one = t.row(0, named=True)
    assert one["n_neighbors"] == 1 and one["n_queries"] == 4
    assert one["shared_embedding"] == pytest.approx(1.5)
    assert one["shared_tag_space"] == pytest.approx(1.5)
    three = t.row(1, named=True)
    # p: (2+0+0)/3, q: same, r: (0+0+1)/3, s: same -> mean 1/2; random = all others too.
    assert three["shared_embedding"] == pytest.approx(0.5)
    assert three["shared_random"] == pytest.approx(0.5)
    assert three["shared_tag_space"] == pytest.approx(0.5)


def test_embedding_alignment_errors(geometry: tuple[pl.DataFrame, np.ndarray]) -> None:
    samples, emb = geometry
    with pytest.raises(InputError, match="one row per sample"):
        distance_by_shared_tags(samples, emb[:3])
    partial = embeddings_table(["p", "q"], emb[:2])
    with pytest.raises(InputError, match="no embedding for 4 of the 6 samples"):
        distance_by_shared_tags(samples, partial)
    with pytest.raises(InputError, match="NaN"):
        distance_by_shared_tags(samples, np.full((6, 2), np.nan))


# -- description quality with given embeddings ----------------------------------------------


def test_description_quality_hand_computed() -> None:
    # Class a: mode {x} = rows 0, 1; outside: rows 2, 3, 4. Caption embedding (1, 0).
    samples = pl.DataFrame(
        {
            "id": range(6),
            "label": ["a"] * 5 + ["b"],
            "correct": [True] * 6,
            "tags": [["x"], ["x"], [], [], ["y"], ["x"]],
        }
    )
    img = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [0.8, 0.6], [0.0, 1.0], [1.0, 0.0]])
    modes = pl.DataFrame({"label": ["a"], "tags": [["x"]]})
    q = description_quality(
        modes, samples, image_embeddings=img, text_embeddings=np.array([[1.0, 0.0]]), seed=3
    )
    row = q.row(0, named=True)
    assert row["caption"] == "a photo of a a, x"
    assert row["n_images"] == 2 and row["n_negatives"] == 2
    assert row["similarity_mean"] == pytest.approx(0.8)
    assert row["similarity_std"] == pytest.approx(0.2)  # population std of (1.0, 0.6)
    # The 2 negatives come from rows 2, 3, 4 (similarities 0, .8, 0): recompute the AUROC.
    neg_mean = row["negative_similarity_mean"]
    assert neg_mean == pytest.approx(0.0) or neg_mean == pytest.approx(0.4)
    # Pairs (positive, negative): 1.0 beats both; 0.6 beats 0, loses to 0.8.
    expected = 1.0 if neg_mean == pytest.approx(0.0) else (1 + 1 + 1 + 0) / 4
    assert row["auroc"] == pytest.approx(expected)
    # The same seed gives the same negatives; the result does not depend on other groups.
    two = pl.concat([pl.DataFrame({"label": ["b"], "tags": [["x"]]}), modes])
    q2 = description_quality(
        two,
        samples,
        image_embeddings=img,
        text_embeddings=np.array([[0.0, 1.0], [1.0, 0.0]]),
        seed=3,
    )
    assert q2.row(1, named=True) == row
    # Class b has no other image: no negatives, no AUROC.
    assert q2.row(0, named=True)["auroc"] is None
    s = quality_summary(q2)
    assert s["n_groups"] == 2 and s["mean_auroc"] == pytest.approx(row["auroc"])


def test_description_quality_of_slices_uses_their_ids() -> None:
    samples = pl.DataFrame(
        {"id": ["a0", "a1", "a2"], "label": ["a"] * 3, "correct": [True] * 3, "tags": [[]] * 3}
    )
    img = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    slices = pl.DataFrame({"label": ["a"], "slice": [1], "description": ["dark"], "ids": [["a1"]]})
    q = description_quality(
        slices, samples, image_embeddings=img, text_embeddings=np.array([[0.0, 1.0]])
    )
    assert q["caption"].to_list() == ["a photo of a a, dark"]
    assert q["similarity_mean"].to_list() == [1.0]
    bad = slices.with_columns(ids=pl.lit(["zz"]))
    with pytest.raises(InputError, match="'zz'"):
        description_quality(
            bad, samples, image_embeddings=img, text_embeddings=np.array([[0.0, 1.0]])
        )
    with pytest.raises(ParameterError, match="give a model"):
        description_quality(slices, samples, image_embeddings=img)


def test_retrieval_generalization_scales_by_class_size() -> None:
    # Holdout of class a: 6 images; the caption is closest to rows 0, 1 (both wrong).
    holdout = pl.DataFrame(
        {
            "id": range(6),
            "label": ["a"] * 6,
            "correct": [False, False, True, True, True, True],
            "tags": [[]] * 6,
        }
    )
    img = np.array([[1.0, 0.0], [0.9, 0.1], [0.5, 0.5], [0.0, 1.0], [0.0, 1.0], [0.1, 0.9]])
    detect = holdout.with_columns(id=pl.col("id") + 100).vstack(
        holdout.with_columns(id=pl.col("id") + 200)
    )  # 12 detect samples: half as many on the holdout
    groups = pl.DataFrame({"label": ["a"], "description": ["x"], "support": [4]})
    r = retrieval_generalization(
        groups,
        holdout,
        holdout_embeddings=img,
        text_embeddings=np.array([[1.0, 0.0]]),
        detect=detect,
    )
    row = r.row(0, named=True)
    assert row["retrieval_support"] == 2  # 4 * 6 / 12
    assert row["retrieval_accuracy"] == 0.0
    assert row["retrieval_drop"] == pytest.approx(4 / 6)
