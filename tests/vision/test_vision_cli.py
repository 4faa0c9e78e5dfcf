"""``prime tag | predict | retag | run`` end to end: real files, real (tiny) models, no mocks.

Most checks run in-process through click's CliRunner; the ones about processes (no torch
installed, unreadable files, exit codes without tracebacks) run ``python -m prime_rs``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

import prime_rs
from prime_rs.cli import cli

torch = pytest.importorskip("torch", reason="the vision extra (torch) is not installed")
pytest.importorskip("open_clip", reason="the vision extra (open_clip) is not installed")

from PIL import Image  # noqa: E402

from prime_rs.vision.testing import (  # noqa: E402
    TinyClip,
    make_image_folder,
    make_tiny_clip,
    save_tiny_cnn,
    write_odd_images,
)


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_error(result: Result, *needles: str) -> None:
    """Exit status 2, the message on stderr, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output and "Error: " in result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    tiny = make_tiny_clip(d)
    vocab = d / "vocab.txt"
    vocab.write_text("dog\ncat\ncar\ntree\nsky\n[colours]\nred\ngreen\nblue\n")
    classes = d / "classes.txt"
    classes.write_text("cat\ndog\nfox\n")
    return {
        "clip_name": Path(tiny.model_name),
        "clip": tiny.checkpoint,
        "clip_config": tiny.config,
        "vocab": vocab,
        "cnn": save_tiny_cnn(d / "cnn.ts", kind="torchscript"),
        "classes": classes,
    }


def clip_options(m: dict[str, Path], *extra: object) -> list[object]:
    return [
        "--tagger",
        "clip",
        "--model-name",
        str(m["clip_name"]),
        "--checkpoint",
        m["clip"],
        "--model-config",
        m["clip_config"],
        "--vocabulary",
        m["vocab"],
        "--device",
        "cpu",
        "--no-progress",
        *extra,
    ]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 labelled images in three classes, plus awkward files inside the classes."""
    root = make_image_folder(
        tmp_path_factory.mktemp("cli") / "img", {"cat": 10, "dog": 10, "fox": 10}
    )
    odd = write_odd_images(root / "fox" / "odd", huge=False)
    assert odd
    return root


def expected_errors(root: Path) -> dict[str, str]:
    cases = write_odd_images(root.parent / "again", huge=False)
    return {f"fox/odd/{n}": e for n, e in cases.items() if e is not None}


# -- without torch ---------------------------------------------------------------------------


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


def test_core_commands_do_not_import_torch() -> None:
    out = run_python(
        "import sys\n"
        "import prime_rs, prime_rs.cli\n"
        "from prime_rs.cli import main\n"
        "code = main(['--help'])\n"
        "code += main(['tag', '--help'])\n"
        "print(code, 'torch' in sys.modules, 'PIL' in sys.modules)\n"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("0 False False")


BLOCK_TORCH = (
    "import sys\n"
    "sys.modules['torch'] = None  # as if the vision extra were not installed\n"
    "from prime_rs.cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def test_vision_commands_without_torch_say_how_to_install(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path / "img", {"a": 1})
    for args in (
        ["tag", str(root), "-o", str(tmp_path / "t.parquet")],
        ["predict", str(root), "-o", str(tmp_path / "p.parquet"), "--model", "resnet18"],
        ["run", str(root), "-o", str(tmp_path / "out"), "--model", "resnet18"],
    ):
        out = run_python(BLOCK_TORCH, *args)
        assert out.returncode == 2, (args, out.stderr)
        assert "Traceback" not in out.stderr
        assert "pip install 'prime_rs[vision]'" in out.stderr and "'torch'" in out.stderr
    # The core keeps working without torch.
    samples = tmp_path / "samples.parquet"
    prime_rs.synthetic.generate(prime_rs.synthetic.SMALL).samples.write_parquet(samples)
    out = run_python(BLOCK_TORCH, "search", str(samples), "--max-tags", "2")
    assert out.returncode == 0, out.stderr


# -- tag ------------------------------------------------------------------------------------


def test_tag_with_clip_writes_tags_scores_and_errors(
    images: Path, models: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "tags.parquet"
    result = invoke("tag", images, "-o", out, *clip_options(models, "--top-k", "2"))
    assert result.exit_code == 0, result.output
    table = pl.read_parquet(out)
    assert table.columns == [
        "id",
        "path",
        "label",
        "tags",
        "tag_scores",
        "candidates",
        "candidate_scores",
    ]
    assert table.schema["tag_scores"] == pl.List(pl.Float32)
    assert table.height == 30 + 9  # the 9 odd files that load are tagged too
    assert (table["tags"].list.len() <= 2).all()
    for tags, cands in zip(table["tags"], table["candidates"], strict=True):
        assert tags.to_list() == cands.to_list()[: len(tags)]  # best candidates first
    errors = pl.read_parquet(tmp_path / "tags.errors.parquet")
    expected = expected_errors(images)
    assert errors.columns == ["id", "path", "error"]
    assert set(errors["id"]) == set(expected)
    for id_, error in errors.select("id", "error").rows():
        assert error.startswith(expected[id_]), (id_, error)
    assert f"errors      {len(expected)} images could not be used" in result.stdout
    assert "cat/cat_0.png" in table["id"].to_list()


def test_tag_refuses_to_overwrite_and_strict_stops(
    images: Path, models: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "tags.parquet"
    assert invoke("tag", images, "-o", out, *clip_options(models)).exit_code == 0
    before = out.read_bytes()
    assert_error(
        invoke("tag", images, "-o", out, *clip_options(models)),
        "already exists; add --overwrite",
    )
    assert out.read_bytes() == before
    strict = tmp_path / "strict.parquet"
    assert_error(
        invoke("tag", images, "-o", strict, *clip_options(models, "--strict")),
        "--strict stops at the first image",
    )
    assert not strict.exists()


def test_tag_input_errors(tmp_path: Path, models: dict[str, Path]) -> None:
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    assert_error(invoke("tag", tmp_path / "empty", "-o", tmp_path / "t.parquet"), "no images found")
    manifest = tmp_path / "m.csv"
    pl.DataFrame({"path": ["nope/1.png", "nope/2.png"]}).write_csv(manifest)
    assert_error(invoke("tag", manifest, "-o", tmp_path / "t.parquet"), "none of its 2 image paths")
    root = make_image_folder(tmp_path / "img", {"a": 1})
    assert_error(invoke("tag", root, "-o", tmp_path / "t.txt"), "unknown output type '.txt'")
    assert_error(
        invoke("tag", root, "-o", tmp_path / "t.parquet", "--tagger", "clip"),
        "needs --model-name",
    )
    assert_error(
        invoke("tag", root, "-o", tmp_path / "t.parquet", "--tagger", "ram", "--checkpoint", "x"),
        "recognize-anything",
    )


def test_tag_manifest_with_some_missing_files(tmp_path: Path, models: dict[str, Path]) -> None:
    make_image_folder(tmp_path / "img", {"a": 3})
    manifest = tmp_path / "m.csv"
    pl.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "path": ["img/a/a_0.png", "img/a/gone.png", "img/a/a_1.png", "img/a/a_2.png"],
            "split": ["x", "y", "x", "y"],
        }
    ).write_csv(manifest)
    out = tmp_path / "t.parquet"
    result = invoke("tag", manifest, "-o", out, *clip_options(models))
    assert result.exit_code == 0, result.output
    table = pl.read_parquet(out)
    assert table["id"].to_list() == [1, 3, 4] and table["split"].to_list() == ["x", "x", "y"]
    errors = pl.read_parquet(tmp_path / "t.errors.parquet")
    assert errors.rows() == [(2, str(tmp_path / "img" / "a" / "gone.png"), "file not found")]


def test_progress_bar_reports_rate_and_eta(tmp_path: Path, models: dict[str, Path]) -> None:
    root = make_image_folder(tmp_path / "img", {"a": 3})
    options = [o for o in clip_options(models) if o != "--no-progress"]
    result = invoke("tag", root, "-o", tmp_path / "t.parquet", *options)
    assert result.exit_code == 0
    assert "3/3 100.0%" in result.stderr and "img/s" in result.stderr and "ETA" in result.stderr


def test_bad_and_unreadable_images_in_a_real_process(
    tmp_path: Path, models: dict[str, Path]
) -> None:
    """The real command, with a file it may not read: every failure listed, exit 0."""
    root = make_image_folder(tmp_path / "img", {"a": 4})
    cases = write_odd_images(root / "a" / "odd")
    Image.new("RGB", (8, 8)).save(root / "a" / "secret.png")
    os.chmod(root / "a" / "secret.png", 0)
    out = tmp_path / "tags.parquet"
    from test_vision_sources import without_root_file_access

    proc = subprocess.run(
        [sys.executable, "-m", "prime_rs", "tag", str(root), "-o", str(out)]
        + [str(o) for o in clip_options(models, "--workers", "2")],
        capture_output=True,
        text=True,
        timeout=180,
        preexec_fn=without_root_file_access,
    )
    assert proc.returncode == 0, proc.stderr
    errors = dict(pl.read_parquet(tmp_path / "tags.errors.parquet").select("id", "error").rows())
    assert errors.pop("a/secret.png") == "cannot be read (Permission denied)"
    expected = {f"a/odd/{n}": e for n, e in cases.items() if e is not None}
    assert set(errors) == set(expected)
    assert all(errors[k].startswith(v) for k, v in expected.items()), errors
    tagged = pl.read_parquet(out)["id"].to_list()
    assert len(tagged) + len(errors) + 1 == 4 + len(cases) + 1
    assert "a/odd/huge.jpg" in tagged and "a/odd/cmyk.jpg" in tagged


# -- retag ------------------------------------------------------------------------------------


def test_retag_changes_the_selection_without_a_model(
    images: Path, models: dict[str, Path], tmp_path: Path
) -> None:
    tags = tmp_path / "tags.parquet"
    assert invoke("tag", images, "-o", tags, *clip_options(models, "--top-k", "1")).exit_code == 0
    original = pl.read_parquet(tags)
    wider = tmp_path / "wide.parquet"
    result = invoke("retag", tags, "-o", wider, "--top-k", "0", "--threshold", "0.05")
    assert result.exit_code == 0, result.output
    table = pl.read_parquet(wider)
    assert table.drop("tags", "tag_scores").equals(original.drop("tags", "tag_scores"))
    for tag_list, cands, scores in zip(
        table["tags"], table["candidates"], table["candidate_scores"], strict=True
    ):
        assert tag_list.to_list() == [c for c, s in zip(cands, scores, strict=True) if s >= 0.05]
    # Same rule as prime tag used: the same table.
    same = tmp_path / "same.parquet"
    assert invoke("retag", tags, "-o", same).exit_code == 0
    assert pl.read_parquet(same).equals(original)
    # Through CSV and back.
    csv = tmp_path / "tags.csv"
    prime_rs.write_table(original, csv)
    again = tmp_path / "again.parquet"
    assert invoke("retag", csv, "-o", again, "--top-k", "1", "--threshold", "0.15").exit_code == 0
    assert pl.read_parquet(again)["tags"].to_list() == original["tags"].to_list()


def test_retag_errors(images: Path, models: dict[str, Path], tmp_path: Path) -> None:
    tags = tmp_path / "tags.parquet"
    assert invoke("tag", images, "-o", tags, *clip_options(models)).exit_code == 0
    assert_error(
        invoke("retag", tags, "-o", tmp_path / "x.parquet", "--threshold", "0.001"),
        "below the floor 0.01",
    )
    assert_error(invoke("retag", tags, "-o", tags), "already exists")
    assert_error(invoke("retag", tags, "-o", tags, "--overwrite"), "give another file")
    samples = tmp_path / "s.parquet"
    pl.DataFrame({"id": [1], "tags": [["a"]]}).write_parquet(samples)
    assert_error(invoke("retag", samples, "-o", tmp_path / "y.parquet"), "not a tags table")
    thresholds = tmp_path / "th.csv"
    pl.DataFrame({"tag": ["dog"], "threshold": [2.0]}).write_csv(thresholds)
    assert_error(
        invoke("retag", tags, "-o", tmp_path / "z.parquet", "--thresholds", thresholds),
        "in [0, 1]",
    )
    pl.DataFrame({"tag": ["dog", "red"], "threshold": [0.0, 0.0]}).write_csv(thresholds)
    per_tag = tmp_path / "per.parquet"
    assert_error(
        invoke("retag", tags, "-o", per_tag, "--thresholds", thresholds), "below the floor"
    )
    pl.DataFrame({"tag": ["dog", "red"], "threshold": [0.9, 0.02]}).write_csv(thresholds)
    result = invoke("retag", tags, "-o", per_tag, "--thresholds", thresholds, "--top-k", "0")
    assert result.exit_code == 0, result.output
    for t in pl.read_parquet(per_tag)["tags"].to_list():
        assert "dog" not in t  # 0.9 is out of reach for a random model over 5 tags


# -- predict ----------------------------------------------------------------------------------


def test_predict_names_and_indices(images: Path, models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "preds.parquet"
    result = invoke(
        "predict", images, "-o", out, "--model", models["cnn"], "--size", "32",
        "--classes", models["classes"], "--device", "cpu", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    preds = pl.read_parquet(out)
    assert preds.columns == ["id", "path", "label", "prediction", "confidence"]
    assert set(preds["prediction"].unique()) <= {"cat", "dog", "fox"}
    assert preds["confidence"].is_between(1 / 3, 1).all()
    assert "accuracy" in result.stdout and "inputs      32 px" in result.stdout
    # Integer labels in a manifest: predictions are class indices.
    manifest = tmp_path / "m.parquet"
    paths = [str(images / "cat" / f"cat_{i}.png") for i in range(4)]
    pl.DataFrame({"path": paths, "label": [0, 1, 2, 0]}).write_parquet(manifest)
    by_index = tmp_path / "idx.parquet"
    result = invoke(
        "predict", manifest, "-o", by_index, "--model", "prime_rs.vision.testing:tiny_cnn",
        "--size", "32", "--device", "cpu", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pl.read_parquet(by_index)
    assert table["prediction"].dtype == pl.Int64 and table["prediction"].is_between(0, 2).all()


def test_predict_errors(images: Path, models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "p.parquet"
    assert_error(
        invoke("predict", images, "-o", out, "--model", "prime_rs.vision.testing:tiny_cnn",
               "--size", "32", "--classes", models["vocab"], "--device", "cpu"),
        "gives 3 scores per image but there are",
    )  # fmt: skip
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (8, 8)).save(flat / "x.png")
    assert_error(
        invoke("predict", flat, "-o", out, "--model", models["cnn"]),
        "needs a label for every image",
    )
    assert_error(invoke("predict", images, "-o", out, "--model", "resnet18"), "--weights")
    assert_error(
        invoke("predict", images, "-o", out, "--model", models["cnn"], "--mean", "1,2"),
        "three numbers",
    )


# -- run --------------------------------------------------------------------------------------


def test_run_writes_every_table_and_searches(
    images: Path, models: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "results"
    args = [
        "run", images, "-o", out, "--model", models["cnn"], "--size", "32",
        "--classes", models["classes"], *clip_options(models, "--top-k", "2"),
        "--min-support", "3", "--min-drop", "10%", "--max-tags", "2",
    ]  # fmt: skip
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    for name in ("tags", "predictions"):
        assert (out / f"{name}.parquet").exists() and (out / f"{name}.errors.parquet").exists()
    samples = prime_rs.load_samples(out / "samples.parquet")
    assert samples.height == 39 and samples["tags"].list.len().max() <= 2
    assert {"id", "label", "prediction", "confidence", "tags", "correct", "path"} <= set(
        samples.columns
    )
    assert "left out: see the errors tables" in result.stdout
    assert "== search" in result.stdout and "min_support 3" in result.stdout
    modes = pl.read_parquet(out / "modes.parquet")
    assert modes.columns[:8] == list(prime_rs.MODE_COLUMNS)
    # Again without --resume: refused; with it: nothing to redo.
    assert_error(invoke(*args), "already exists")
    again = invoke(*args, "--resume")
    assert again.exit_code == 0, again.output
    assert again.stdout.count("already complete") == 2
    assert pl.read_parquet(out / "samples.parquet").equals(pl.read_parquet(out / "samples.parquet"))


def test_run_checks_search_parameters_before_any_model(
    images: Path, models: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "never"
    base = ["run", images, "-o", out, "--model", models["cnn"], *clip_options(models)]
    for bad, needle in (
        (["--min-support", "0"], "min_support: must be at least 1"),
        (["--min-drop", "x"], "'x' is not a fraction"),
        (["--min-drop", "150%"], "min_drop: must be a fraction in [0, 1]"),
    ):
        result = invoke(*base, *bad)
        assert_error(result, needle)
        assert "== predict" not in result.stdout
    assert not out.exists()


def test_predict_warns_of_labels_the_model_does_not_know(
    images: Path, models: dict[str, Path], tmp_path: Path
) -> None:
    classes = tmp_path / "classes.txt"
    classes.write_text("cat\ndog\nwolf\n")
    result = invoke(
        "predict", images, "-o", tmp_path / "p.parquet", "--model", models["cnn"],
        "--size", "32", "--classes", classes, "--device", "cpu", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "warning: 1 label ('fox') is not among the model's 3 classes: their images always "
        "count as wrong\n"
    )
    assert "accuracy    " in result.stdout


def test_ram_tagger_without_the_package_exits_2(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path / "img", {"a": 1})
    ckpt = tmp_path / "ram_plus.pth"
    ckpt.write_bytes(b"x")
    out = run_python(
        "import sys\n"
        "sys.modules['ram'] = None  # recognize-anything not installed\n"
        "from prime_rs.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n",
        "tag", str(root), "-o", str(tmp_path / "t.parquet"), "--tagger", "ram_plus",
        "--checkpoint", str(ckpt),
    )  # fmt: skip
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "recognize-anything" in out.stderr and "git+https://github.com/xinyu1205" in out.stderr


def test_tiny_clip_helper_is_loadable_by_path(tmp_path: Path) -> None:
    tiny: TinyClip = make_tiny_clip(tmp_path)
    result = invoke(
        "tag", make_image_folder(tmp_path / "img", {"a": 2}), "-o", tmp_path / "t.parquet",
        "--tagger", "clip", "--model-name", tiny.model_name, "--checkpoint", tiny.checkpoint,
        "--model-config", tiny.config, "--device", "cpu", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "616 tags" in result.stdout  # the built-in vocabulary


def test_csv_tags_table_resumes_as_complete(tmp_path: Path, models: dict[str, Path]) -> None:
    root = make_image_folder(tmp_path / "img", {"a": 3})
    out = tmp_path / "tags.csv"
    first = invoke("tag", root, "-o", out, *clip_options(models, "--top-k", "2"))
    assert first.exit_code == 0, first.output
    again = invoke("tag", root, "-o", out, *clip_options(models, "--top-k", "2"), "--resume")
    assert again.exit_code == 0, again.output
    assert "already complete" in again.stdout and "2.0 tags per image" in again.stdout
    table = prime_rs.read_table(out)
    assert table["tags"].str.split("|").list.len().to_list() == [2, 2, 2]
