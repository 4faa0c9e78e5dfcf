"""The vision jobs as library calls (``prime_rs.vision.jobs``, ``prime_rs.pipeline.run``).

Real files and real (tiny, random-weight) models from ``prime_rs.vision.testing``; the
images are written by the tests. What the command line prints is tested in
``test_vision_cli.py``; here the values the functions return, the tables they write, and
the errors they raise.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import prime_rs

pytest.importorskip("torch", reason="the vision extra (torch) is not installed")
pytest.importorskip("open_clip", reason="the vision extra (open_clip) is not installed")

from prime_rs import InputError, ParameterError
from prime_rs.pipeline import PipelineObserver, run
from prime_rs.vision import jobs
from prime_rs.vision.classifier import Classifier
from prime_rs.vision.images import Preprocess
from prime_rs.vision.runner import RunResult
from prime_rs.vision.shards import parts_path
from prime_rs.vision.sources import ImageSource, open_images
from prime_rs.vision.taggers import Tagger
from prime_rs.vision.testing import (
    make_image_folder,
    make_tiny_clip,
    save_tiny_cnn,
    write_odd_images,
)

CLASSES = ["cat", "dog", "fox"]


class Recorder(PipelineObserver):
    """Keeps what a job reports, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.warnings: list[str] = []
        self.loaded: list[Any] = []

    def source_opened(self, source: ImageSource) -> None:
        self.events.append(f"source {len(source)}")

    def tagger_loaded(self, tagger: Tagger, seconds: float) -> None:
        assert seconds >= 0
        self.loaded.append(tagger)
        self.events.append(f"tagger {tagger.kind}")

    def classifier_loaded(self, classifier: Classifier, seconds: float) -> None:
        assert seconds >= 0
        self.loaded.append(classifier)
        self.events.append("classifier")

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def finished(self, command: str, result: RunResult) -> None:
        self.events.append(f"finished {command} {result.table.height}")

    def stage(self, name: str) -> None:
        self.events.append(f"stage {name}")

    def samples_joined(self, samples: pl.DataFrame, path: Path, left_out: int) -> None:
        self.events.append(f"samples {samples.height} {path.name} {left_out}")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("models")
    tiny = make_tiny_clip(d)
    vocab = d / "vocab.txt"
    vocab.write_text("dog\ncat\ncar\ntree\nsky\n[colours]\nred\ngreen\nblue\n")
    return {
        "clip": {
            "tagger": "clip",
            "model_name": tiny.model_name,
            "checkpoint": tiny.checkpoint,
            "model_config": tiny.config,
            "vocabulary": vocab,
        },
        "cnn": str(save_tiny_cnn(d / "cnn.ts", kind="torchscript")),
    }


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 labelled images in three classes, plus files that cannot be used."""
    root = make_image_folder(tmp_path_factory.mktemp("jobs") / "img", dict.fromkeys(CLASSES, 10))
    write_odd_images(root / "fox" / "odd", huge=False)
    return root


def unusable(images: Path) -> int:
    cases = write_odd_images(images.parent / "again", huge=False)
    return sum(e is not None for e in cases.values())


@pytest.fixture(scope="module")
def tagged(
    images: Path, models: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> tuple[RunResult, Recorder]:
    recorder = Recorder()
    out = tmp_path_factory.mktemp("tagged") / "tags.parquet"
    result = jobs.tag(
        images, out, **models["clip"], top_k=2, device="cpu", progress=False, observer=recorder
    )
    return result, recorder


# -- tag ------------------------------------------------------------------------------------


def test_tag_returns_what_it_wrote_and_reports_each_step(
    images: Path, tagged: tuple[RunResult, Recorder]
) -> None:
    result, recorder = tagged
    n_bad = unusable(images)
    n_files = len(open_images(images))
    assert result.table.height == n_files - n_bad and result.errors.height == n_bad
    assert result.table.equals(pl.read_parquet(result.output))
    assert result.errors.equals(pl.read_parquet(result.errors_file))
    assert result.output.name == "tags.parquet"
    assert result.errors_file.name == "tags.errors.parquet"
    assert result.table.columns == [
        "id", "path", "label", "tags", "tag_scores", "candidates", "candidate_scores",
    ]  # fmt: skip
    assert (result.table["tags"].list.len() <= 2).all()
    assert recorder.events == [
        f"source {n_files}",
        "tagger clip",
        f"finished tag {n_files - n_bad}",
    ]
    # The stored rule is what retag starts from.
    meta = json.loads(pl.read_parquet_metadata(result.output)["prime_rs"])
    assert meta["selection"]["top_k"] == 2 and meta["floor"] == pytest.approx(0.01)


def test_tag_takes_an_image_source_and_resumes(
    images: Path, models: dict[str, Any], tagged: tuple[RunResult, Recorder]
) -> None:
    first, _ = tagged
    again = jobs.tag(
        open_images(images), first.output, **models["clip"], top_k=2, device="cpu",
        progress=False, resume=True,
    )  # fmt: skip
    assert again.already_complete and again.processed == 0
    assert again.table.equals(first.table)


def test_tag_checks_the_output_before_loading_a_model(
    images: Path, models: dict[str, Any], tagged: tuple[RunResult, Recorder], tmp_path: Path
) -> None:
    first, _ = tagged
    options = {**models["clip"], "checkpoint": tmp_path / "missing.pt"}  # never loaded
    with pytest.raises(InputError, match="already exists; add --overwrite"):
        jobs.tag(images, first.output, **options, device="cpu", progress=False)
    with pytest.raises(InputError, match="is a folder"):
        jobs.tag(images, tmp_path, **options, device="cpu", progress=False)
    with pytest.raises(InputError, match=re.escape("missing.pt: checkpoint file not found")):
        jobs.tag(images, tmp_path / "t.parquet", **options, device="cpu", progress=False)


def test_check_output(tmp_path: Path) -> None:
    out = tmp_path / "tags.parquet"
    assert jobs.check_output(str(out)) == out
    with pytest.raises(InputError, match="is a folder"):
        jobs.check_output(tmp_path)
    with pytest.raises(InputError):
        jobs.check_output(tmp_path / "tags.xlsx")
    (tmp_path / "tags.errors.parquet").write_bytes(b"")
    with pytest.raises(InputError, match=re.escape("tags.errors.parquet: already exists")):
        jobs.check_output(out)
    assert jobs.check_output(out, overwrite=True) == out
    (tmp_path / "tags.errors.parquet").unlink()
    parts_path(out).mkdir()
    with pytest.raises(InputError, match="an unfinished run is there"):
        jobs.check_output(out)
    assert jobs.check_output(out, resume=True) == out


# -- predict --------------------------------------------------------------------------------


def test_predict_names_accuracy_and_preprocessing(
    images: Path, models: dict[str, Any], tmp_path: Path
) -> None:
    recorder = Recorder()
    result = jobs.predict(
        images, tmp_path / "preds.parquet", model=models["cnn"], classes=CLASSES, size=32,
        device="cpu", progress=False, observer=recorder,
    )  # fmt: skip
    table = result.table
    assert table.columns == ["id", "path", "label", "prediction", "confidence"]
    assert set(table["prediction"]) <= set(CLASSES)
    assert table.equals(pl.read_parquet(tmp_path / "preds.parquet"))
    expected = (table["label"] == table["prediction"]).sum() / table.height
    assert jobs.accuracy(table) == pytest.approx(expected)
    assert recorder.events[1:] == ["classifier", f"finished predict {table.height}"]
    assert recorder.warnings == []
    classifier = recorder.loaded[0]
    assert classifier.preprocess == Preprocess(size=32)  # --size without --resize: no crop
    meta = json.loads(pl.read_parquet_metadata(tmp_path / "preds.parquet")["prime_rs"])
    assert meta["settings"]["preprocess"]["size"] == 32
    assert meta["settings"]["classes"] == CLASSES


def test_predict_warns_of_labels_the_model_does_not_know(
    images: Path, models: dict[str, Any], tmp_path: Path
) -> None:
    options: dict[str, Any] = {
        "model": models["cnn"], "classes": ["cat", "dog", "wolf"], "size": 32,
        "device": "cpu", "progress": False,
    }  # fmt: skip
    message = "1 label ('fox') is not among the model's 3 classes: their images always count"
    with pytest.warns(UserWarning, match=re.escape(message)):
        result = jobs.predict(images, tmp_path / "a.parquet", **options)
    fox = result.table.filter(pl.col("label") == "fox")
    assert fox.height > 0 and (fox["prediction"] != "fox").all()
    recorder = Recorder()  # an observer hears it instead
    jobs.predict(images, tmp_path / "b.parquet", **options, observer=recorder)
    assert recorder.warnings == [message + " as wrong"]


def test_predict_errors(images: Path, models: dict[str, Any], tmp_path: Path) -> None:
    flat = make_image_folder(tmp_path / "flat", {"": 2})  # images, no class folders
    with pytest.raises(InputError, match="needs a label for every image"):
        jobs.predict(flat, tmp_path / "p.parquet", model=models["cnn"], device="cpu")
    manifest = tmp_path / "m.csv"
    paths = [str(images / "cat" / f"cat_{i}.png") for i in range(3)]
    pl.DataFrame({"path": paths, "label": ["cat", "dog", "fox"]}).write_csv(manifest)
    with pytest.raises(InputError, match="the model's class names are unknown"):
        jobs.predict(
            manifest, tmp_path / "p.parquet", model="prime_rs.vision.testing:tiny_cnn",
            size=32, device="cpu", progress=False,
        )  # fmt: skip
    with pytest.raises(InputError, match="gives 3 scores per image but there are 2"):
        jobs.predict(
            images, tmp_path / "p.parquet", model=models["cnn"], classes=["a", "b"], size=32,
            device="cpu", progress=False,
        )  # fmt: skip
    assert not (tmp_path / "p.parquet").exists()


# -- retag ----------------------------------------------------------------------------------


def test_retag_applies_a_new_rule_without_a_model(
    tagged: tuple[RunResult, Recorder], tmp_path: Path
) -> None:
    source, _ = tagged
    n_before = int(source.table["tags"].list.len().sum())
    new = jobs.retag(source.output, tmp_path / "t1.parquet", top_k=1)
    assert new.tags_before == n_before and new.output == tmp_path / "t1.parquet"
    assert new.selection.top_k == 1 and new.selection.threshold == pytest.approx(0.15)
    assert (new.table["tags"].list.len() <= 1).all()
    assert new.table.equals(pl.read_parquet(new.output))
    assert new.table.drop("tags", "tag_scores").equals(source.table.drop("tags", "tag_scores"))
    everything = jobs.retag(source.output, tmp_path / "t2.parquet", threshold=0.01, top_k=0)
    assert everything.table["tags"].to_list() == source.table["candidates"].to_list()
    assert everything.selection.describe() == "every tag with score >= 0.01"
    per_tag = jobs.retag(
        source.output, tmp_path / "t3.parquet", thresholds={"dog": 0.99}, threshold=0.02
    )
    assert not any("dog" in t for t in per_tag.table["tags"].to_list())
    assert per_tag.selection.per_tag == {"dog": 0.99} and per_tag.selection.default == 0.02
    table = tmp_path / "thresholds.csv"
    pl.DataFrame({"tag": ["dog"], "threshold": [0.99]}).write_csv(table)
    from_file = jobs.retag(source.output, tmp_path / "t4.parquet", thresholds=table)
    assert from_file.selection.per_tag == {"dog": 0.99}


def test_retag_reads_a_csv_tags_table(tagged: tuple[RunResult, Recorder], tmp_path: Path) -> None:
    source, _ = tagged
    csv = tmp_path / "tags.csv"
    prime_rs.write_table(source.table, csv)
    new = jobs.retag(csv, tmp_path / "t.parquet", top_k=1)
    assert new.table["tags"].to_list() == [t[:1] for t in source.table["tags"].to_list()]
    assert new.table["tags"].dtype == pl.List(pl.String)


def test_retag_errors(tagged: tuple[RunResult, Recorder], tmp_path: Path) -> None:
    source, _ = tagged
    with pytest.raises(ParameterError, match=re.escape("below the floor 0.01")):
        jobs.retag(source.output, tmp_path / "t.parquet", threshold=0.001)
    with pytest.raises(InputError, match="give another file than TAGS"):
        jobs.retag(source.output, source.output, overwrite=True)
    existing = tmp_path / "exists.parquet"
    existing.write_bytes(b"")
    with pytest.raises(InputError, match="already exists"):
        jobs.retag(source.output, existing)
    assert jobs.retag(source.output, existing, overwrite=True).table.height > 0
    not_tags = tmp_path / "preds.parquet"
    pl.DataFrame({"id": ["a"], "label": ["x"]}).write_parquet(not_tags)
    with pytest.raises(InputError, match="missing candidates, candidate_scores"):
        jobs.retag(not_tags, tmp_path / "t.parquet")
    bad = tmp_path / "bad.csv"
    pl.DataFrame({"tag": ["dog"], "threshold": [2.0]}).write_csv(bad)
    with pytest.raises(InputError, match="every threshold must be a number in"):
        jobs.retag(source.output, tmp_path / "t.parquet", thresholds=bad)
    with pytest.raises(ParameterError, match="top_k"):
        jobs.retag(source.output, tmp_path / "t.parquet", top_k=-1)
    assert not (tmp_path / "t.parquet").exists()


# -- tables ---------------------------------------------------------------------------------


def test_join_samples_keeps_images_with_both_in_prediction_order() -> None:
    preds = pl.DataFrame(
        {
            "id": ["a", "b", "c"],
            "path": ["a.png", "b.png", "c.png"],
            "label": ["x", "y", "x"],
            "prediction": ["x", "x", "y"],
            "confidence": [0.9, 0.5, 0.7],
            "split": ["s", "s", "t"],
        }
    )
    tags = pl.DataFrame(
        {
            "id": ["c", "a", "z"],
            "path": ["c.png", "a.png", "z.png"],
            "tags": [["sky"], ["dog", "sky"], ["car"]],
            "tag_scores": [[0.5], [0.9, 0.2], [0.4]],
            "candidates": [["sky"], ["dog", "sky"], ["car"]],
        }
    )
    samples = jobs.join_samples(tags, preds)
    assert samples.columns == [
        "id", "label", "prediction", "confidence", "tags", "tag_scores", "path", "split",
    ]  # fmt: skip
    assert samples["id"].to_list() == ["a", "c"]
    assert samples["tags"].to_list() == [["dog", "sky"], ["sky"]]
    assert prime_rs.find_failure_modes(samples, min_support=1, max_tags=1).columns[:2] == [
        "label",
        "tags",
    ]


def test_table_summaries() -> None:
    assert jobs.tag_stats(pl.DataFrame({"tags": [["a", "b"], [], ["a"]]})) == (1.0, 2)
    assert jobs.tag_stats(pl.DataFrame({"tags": ["a|b", "", "a"]})) == (1.0, 2)  # from CSV
    assert jobs.tag_stats(pl.DataFrame({"id": [1]})) is None
    assert jobs.tag_stats(pl.DataFrame({"tags": []}, schema={"tags": pl.List(pl.String)})) is None
    assert jobs.accuracy(pl.DataFrame({"label": [0, 1, 2], "prediction": [0, 1, 1]})) == (
        pytest.approx(2 / 3)
    )
    assert jobs.accuracy(pl.DataFrame({"label": [], "prediction": []})) is None
    text = pl.DataFrame(
        {
            "tags": ["a|b", None],
            "tag_scores": ["[0.5, 0.25]", None],
            "candidates": ["a|b|c", ""],
            "candidate_scores": ["[0.5, 0.25, 0.125]", "[]"],
        }
    )
    lists = jobs.lists_from_text(text)
    assert lists["tags"].to_list() == [["a", "b"], []]
    assert lists["tag_scores"].to_list() == [[0.5, 0.25], []]
    assert lists["candidates"].to_list() == [["a", "b", "c"], []]
    assert lists.schema["candidate_scores"] == pl.List(pl.Float32)
    assert jobs.lists_from_text(lists).equals(lists)


def test_preprocess_override() -> None:
    base = Preprocess(size=224, resize=256, interpolation="bicubic")
    assert base.override() is base
    assert base.override(size=32) == Preprocess(size=32, interpolation="bicubic")
    assert base.override(size=32, resize=40).resize == 40
    changed = base.override(mean=[0.5, 0.5, 0.5], std=(1, 1, 1), resize_mode="squash")
    assert changed.mean == (0.5, 0.5, 0.5) and changed.std == (1.0, 1.0, 1.0)
    assert changed.size == 224 and changed.resize == 256 and changed.resize_mode == "squash"
    with pytest.raises(ParameterError):
        base.override(resize_mode="stretch")


# -- the whole pipeline ---------------------------------------------------------------------


def pipeline_options(models: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": models["cnn"], "classes": CLASSES, "size": 32, **models["clip"], "top_k": 2,
        "min_support": 3, "min_drop": 0.1, "max_tags": 2, "device": "cpu", "progress": False,
    }  # fmt: skip


def test_pipeline_run_end_to_end(images: Path, models: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "results"
    recorder = Recorder()
    result = run(images, out, **pipeline_options(models), observer=recorder)
    n_bad = unusable(images)
    n_images = len(open_images(images))
    for name in ("predictions", "tags"):
        assert (out / f"{name}.parquet").is_file() and (out / f"{name}.errors.parquet").is_file()
    assert result.samples_path == out / "samples.parquet"
    assert result.modes_path == out / "modes.parquet"
    assert result.samples.equals(pl.read_parquet(result.samples_path))
    assert result.modes.equals(pl.read_parquet(result.modes_path))
    assert result.samples.height == n_images - n_bad and result.left_out == n_bad
    assert result.samples["tags"].list.len().max() <= 2  # type: ignore[operator]
    assert result.predictions.table.equals(pl.read_parquet(out / "predictions.parquet"))
    assert result.tags.table.equals(pl.read_parquet(out / "tags.parquet"))
    # The modes are what a search of the samples table finds.
    expected = prime_rs.find_failure_modes(
        prime_rs.load_samples(result.samples_path), min_support=3, min_drop=0.1, max_tags=2
    )
    assert result.modes.equals(expected) and result.modes.height >= 1
    assert result.modes.columns[:8] == list(prime_rs.MODE_COLUMNS)
    assert result.empty_reason is None
    assert set(result.search.summary["label"].to_list()) == set(CLASSES)
    assert result.index_seconds >= 0 and result.search_seconds >= 0
    stages = [e for e in recorder.events if e.startswith(("stage", "samples", "finished"))]
    assert stages == [
        "stage predict",
        f"finished predict {n_images - n_bad}",
        "stage tag",
        f"finished tag {n_images - n_bad}",
        f"samples {n_images - n_bad} samples.parquet {n_bad}",
        "stage search",
    ]
    # Again: refused without resume or overwrite; with resume, nothing is redone.
    with pytest.raises(InputError, match=re.escape("samples.parquet: already exists")):
        run(images, out, **pipeline_options(models))
    again = run(images, out, **pipeline_options(models), resume=True)
    assert again.predictions.already_complete and again.tags.already_complete
    assert again.modes.equals(result.modes) and again.samples.equals(result.samples)


def test_pipeline_run_reports_why_there_are_no_modes(
    images: Path, models: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    options = {**pipeline_options(models), "min_support": 300}
    with caplog.at_level(logging.WARNING, logger="prime_rs"):
        result = run(images, tmp_path / "out", **options)
    assert result.modes.height == 0 and pl.read_parquet(result.modes_path).height == 0
    assert result.empty_reason is not None and "min_support=300" in result.empty_reason
    assert result.empty_reason in caplog.messages  # the search's own warning


def test_pipeline_run_checks_parameters_before_any_model(
    images: Path, models: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "never"
    for bad, match in (
        ({"min_support": 0}, "min_support: must be at least 1"),
        ({"min_drop": 1.5}, "min_drop: must be a fraction"),
        ({"max_tags": 0}, "max_tags"),
        ({"necessity": ()}, "necessity: needs at least one value"),
    ):
        with pytest.raises(ParameterError, match=match):
            run(images, out, **{**pipeline_options(models), **bad})
    assert not out.exists()
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(InputError, match="exists and is not a folder"):
        run(images, a_file, **pipeline_options(models))
