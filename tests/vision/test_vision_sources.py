"""Image sources and image decoding (prime_rs.vision.sources, prime_rs.vision.images).

Real files written into tmp_path: class folders, manifests in every format, and every kind of
awkward image (empty, truncated, corrupt, not an image, too large, unreadable, odd modes, tiny
and huge), checked against what a person expects to see.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytest.importorskip("torch", reason="the vision extra (torch) is not installed")

import torch
from PIL import Image

from prime_rs import InputError
from prime_rs.vision.images import (
    ImageError,
    Preprocess,
    iter_batches,
    load_image,
    normalize,
)
from prime_rs.vision.sources import from_folder, from_manifest, open_images
from prime_rs.vision.testing import make_image_folder, write_odd_images


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str | None]]:
    folder = tmp_path_factory.mktemp("odd")
    return folder, write_odd_images(folder)


# -- sources -----------------------------------------------------------------------------


def test_folder_ids_labels_and_order(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path / "img", {"dog": 2, "cat": 3})
    (root / "cat" / "nested").mkdir()
    Image.new("RGB", (8, 8)).save(root / "cat" / "nested" / "deep.PNG")  # upper-case extension
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "cat" / ".hidden.png").write_bytes(b"")
    source = open_images(root)
    assert source.classes == ["cat", "dog"]
    assert source.ids == [
        "cat/cat_0.png",
        "cat/cat_1.png",
        "cat/cat_2.png",
        "cat/nested/deep.PNG",
        "dog/dog_0.png",
        "dog/dog_1.png",
    ]
    assert source.table["label"].to_list() == ["cat"] * 4 + ["dog"] * 2
    assert all(os.path.isabs(p) and os.path.exists(p) for p in source.paths)
    assert source.skipped == ["cat/notes.txt"]
    assert source.has_labels
    assert source.fingerprint() == open_images(root).fingerprint()


def test_flat_folder_is_unlabelled(tmp_path: Path) -> None:
    for i in range(3):
        Image.new("RGB", (8, 8)).save(tmp_path / f"{i}.jpg")
    source = from_folder(tmp_path)
    assert source.classes is None and not source.has_labels
    assert source.ids == ["0.jpg", "1.jpg", "2.jpg"]
    with pytest.raises(InputError, match="needs a label for every image"):
        source.require_labels("prime predict")


def test_folder_without_images_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "readme.txt").write_text("x")
    with pytest.raises(InputError, match=r"no images found .* other file, e.g. cat/readme.txt"):
        open_images(tmp_path)
    with pytest.raises(InputError, match="no images found"):
        open_images(tmp_path / "cat")
    with pytest.raises(InputError, match="no such folder or manifest"):
        open_images(tmp_path / "missing")


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_manifest_formats_and_relative_paths(tmp_path: Path, suffix: str) -> None:
    root = make_image_folder(tmp_path / "img", {"a": 2, "b": 1})
    rows = pl.DataFrame(
        {
            "path": ["img/a/a_0.png", str(root / "b" / "b_0.png"), "img/a/a_1.png"],
            "label": ["a", "b", "a"],
            "split": ["detect", "holdout", "detect"],
        }
    )
    manifest = tmp_path / f"list{suffix}"
    if suffix == ".csv":
        rows.write_csv(manifest)
    elif suffix == ".parquet":
        rows.write_parquet(manifest)
    else:
        rows.write_ndjson(manifest)
    source = open_images(manifest)
    assert source.ids == ["img/a/a_0.png", str(root / "b" / "b_0.png"), "img/a/a_1.png"]
    assert source.table["split"].to_list() == ["detect", "holdout", "detect"]
    assert all(os.path.exists(p) for p in source.paths)


def test_manifest_ids_root_and_integer_labels(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path / "img", {"a": 2})
    manifest = tmp_path / "elsewhere" / "m.csv"
    manifest.parent.mkdir()
    pl.DataFrame({"id": [7, 3], "path": ["a/a_0.png", "a/a_1.png"], "label": [0, 1]}).write_csv(
        manifest
    )
    with pytest.raises(InputError, match=r"none of its 2 image paths exist .* --root"):
        open_images(manifest)
    source = open_images(manifest, root=root)
    assert source.ids == [7, 3]
    assert source.table["label"].dtype.is_integer()


def test_manifest_errors(tmp_path: Path) -> None:
    make_image_folder(tmp_path, {"a": 2})
    bad = tmp_path / "bad.csv"
    pl.DataFrame({"file": ["a/a_0.png"]}).write_csv(bad)
    with pytest.raises(InputError, match="needs a 'path' column"):
        from_manifest(bad)
    pl.DataFrame({"path": ["a/a_0.png", "a/a_0.png"]}).write_csv(bad)
    with pytest.raises(InputError, match=r"must appear once, but path .* rows 0, 1"):
        from_manifest(bad)
    pl.DataFrame({"path": ["a/a_0.png", None]}).write_csv(bad)
    with pytest.raises(InputError, match="column 'path' is empty in rows 1"):
        from_manifest(bad)
    # Some paths missing: not an error here; those images go to the errors table.
    pl.DataFrame({"path": ["a/a_0.png", "a/gone.png"]}).write_csv(bad)
    assert len(from_manifest(bad)) == 2


# -- decoding ------------------------------------------------------------------------------


def test_every_awkward_image(odd: tuple[Path, dict[str, str | None]]) -> None:
    folder, cases = odd
    for name, expected in cases.items():
        if expected is None:
            im = load_image(folder / name, draft_size=224)
            assert im.mode == "RGB", name
        else:
            with pytest.raises(ImageError) as e:
                load_image(folder / name)
            assert str(e.value).startswith(expected), (name, str(e.value))
    with pytest.raises(ImageError, match="file not found"):
        load_image(folder / "missing.png")


def test_odd_modes_become_the_colours_a_person_sees(
    odd: tuple[Path, dict[str, str | None]],
) -> None:
    folder, cases = odd
    usable = [name for name, error in cases.items() if error is None]
    pixel = {name: load_image(folder / name).getpixel((0, 0)) for name in usable}
    assert pixel["cmyk.jpg"] == (255, 0, 255)  # magenta ink only
    assert pixel["alpha.png"] == (255, 255, 255)  # fully transparent: the white behind
    assert pixel["palette.png"] == (255, 255, 255)  # transparent palette index
    assert pixel["grey16.png"] == (156, 156, 156)  # 40000 / 65535 of full scale
    assert pixel["float.tif"] == (64, 64, 64)  # 0.25 of full scale
    assert pixel["bilevel.png"] == (255, 255, 255)
    assert pixel["tiny.png"] == (200, 10, 10)
    huge = load_image(folder / "huge.jpg", draft_size=224)
    assert min(huge.size) >= 448 and huge.getpixel((5, 5)) == (90, 90, 90)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    im = Image.new("RGB", (40, 20), (0, 0, 0))
    im.paste((255, 255, 255), (0, 0, 20, 20))  # white on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    shown = load_image(tmp_path / "rotated.jpg")
    assert shown.size == (20, 40)
    assert shown.getpixel((10, 5))[0] > 200  # the white half is on top once displayed


def without_root_file_access() -> None:
    """In a child process (``preexec_fn``): drop the capabilities that let root read any file
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so permission bits apply to it too."""
    if os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_unreadable_file(tmp_path: Path) -> None:
    """A file without read permission is an image error, not a crash (checked in a child
    process without root's file-access override)."""
    Image.new("RGB", (8, 8)).save(tmp_path / "secret.png")
    os.chmod(tmp_path / "secret.png", 0)
    code = (
        "from prime_rs.vision.images import load_image, ImageError\n"
        "try:\n"
        f"    load_image({str(tmp_path / 'secret.png')!r})\n"
        "except ImageError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        preexec_fn=without_root_file_access,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "cannot be read (Permission denied)"


# -- preprocessing -------------------------------------------------------------------------


def test_preprocess_matches_torchvision(tmp_path: Path) -> None:
    """Resize + centre crop + normalise agree with torchvision's own transforms."""
    from torchvision import transforms as T

    rng = np.random.default_rng(0)
    pre = Preprocess(size=24, resize=28, interpolation="bicubic")
    reference = T.Compose(
        [
            T.Resize(28, interpolation=T.InterpolationMode.BICUBIC),
            T.CenterCrop(24),
            T.ToTensor(),
            T.Normalize(pre.mean, pre.std),
        ]
    )
    for w, h in [(40, 30), (30, 41), (28, 28), (5, 90), (3, 2)]:
        im = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        ours = normalize(pre(im).unsqueeze(0), pre, torch.device("cpu"))[0]
        assert ours.shape == (3, 24, 24)
        assert torch.allclose(ours, reference(im), atol=1e-5), (w, h)


def test_preprocess_squash_and_longest() -> None:
    im = Image.new("RGB", (40, 10), (255, 0, 0))
    squash = Preprocess(size=8, resize_mode="squash")(im)
    assert squash.shape == (3, 8, 8) and int(squash[0].min()) == 255
    padded = Preprocess(size=8, resize_mode="longest")(im)
    assert padded.shape == (3, 8, 8)
    assert int(padded[0, 0, 0]) == 0 and int(padded[0, 4, 4]) == 255  # black bands, red middle


def test_preprocess_rejects_bad_settings() -> None:
    from prime_rs import ParameterError

    with pytest.raises(ParameterError, match="resize mode"):
        Preprocess(size=8, resize_mode="stretch")
    with pytest.raises(ParameterError, match="mean needs 3"):
        Preprocess(size=8, mean=(0.5, 0.5))
    with pytest.raises(ParameterError, match="std values must be positive"):
        Preprocess(size=8, std=(0.5, 0.0, 0.5))


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_keep_order_and_report_failures(
    odd: tuple[Path, dict[str, str | None]], workers: int
) -> None:
    folder, cases = odd
    names = sorted(n for n in cases if n != "huge.jpg")
    paths = [str(folder / n) for n in names]
    batches = [list(range(i, min(i + 4, len(paths)))) for i in range(0, len(paths), 4)]
    seen: list[int] = []
    failed: dict[str, str] = {}
    for batch in iter_batches(paths, Preprocess(size=16), batches, workers=workers):
        assert batch.pixels.dtype == torch.uint8
        assert tuple(batch.pixels.shape) == (len(batch.indices), 3, 16, 16)
        seen += batch.indices
        failed.update({names[i]: reason for i, reason in batch.failures})
    assert sorted(seen + [names.index(n) for n in failed]) == list(range(len(names)))
    assert seen == sorted(seen)
    assert {n for n, e in cases.items() if e is not None} == set(failed)


@pytest.mark.skipif(sys.platform == "win32", reason="no forkserver on Windows")
def test_forkserver_workers_give_the_same_batches(
    odd: tuple[Path, dict[str, str | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The start Python >= 3.12 gets (forkserver, torch preloaded), whatever runs the tests.
    import types

    from prime_rs.vision import images

    monkeypatch.setattr(
        images, "sys", types.SimpleNamespace(platform="linux", version_info=(3, 12))
    )
    assert images._context().get_start_method() == "forkserver"
    folder, cases = odd
    paths = [str(folder / n) for n in sorted(cases) if n != "huge.jpg"]
    batches = [list(range(i, min(i + 4, len(paths)))) for i in range(0, len(paths), 4)]

    def run(workers: int) -> list[tuple[list[int], list[tuple[int, str]], bytes]]:
        return [
            (b.indices, b.failures, b.pixels.numpy().tobytes())
            for b in iter_batches(paths, Preprocess(size=16), batches, workers=workers)
        ]

    assert run(2) == run(0)
