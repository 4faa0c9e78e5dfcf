"""The HTML report: its content, its speed with many modes, and the page in headless Chromium."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from prime_rs import InputError, ParameterError, find_failure_modes, synthetic, write_table
from prime_rs.cli import cli
from prime_rs.report import (
    render_report,
    report_from_files,
    report_thumbnails,
    select_images,
    write_report,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).parent / "artifacts"


def _splits() -> tuple[pl.DataFrame, pl.DataFrame]:
    data = synthetic.generate(synthetic.SMALL, seed=1)
    s = data.samples.with_columns(
        split=pl.when(pl.int_range(pl.len()) % 2 == 0)
        .then(pl.lit("detect"))
        .otherwise(pl.lit("holdout"))
    )
    return s.filter(pl.col("split") == "detect"), s.filter(pl.col("split") == "holdout")


def _png(value: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (8, 8), value).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def report_inputs() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict[object, bytes]]:
    detect, holdout = _splits()
    modes = find_failure_modes(detect, max_tags=3, min_support=20, min_drop=0.2)
    assert modes.height >= 3
    thumbs = {i: _png(i % 256) for i in detect["id"].to_list()}
    return modes, detect, holdout, thumbs


def test_report_content(
    report_inputs: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict[object, bytes]],
) -> None:
    modes, detect, holdout, thumbs = report_inputs
    page = render_report(modes, detect, holdout=holdout, thumbnails=thumbs)
    assert page.count('class="card"') == modes.height
    assert page.count('class="ladder"') == modes.height
    assert "<svg" in page and 'class="scatter"' in page
    assert "data:image/png;base64," in page
    # Self-contained: nothing is fetched from anywhere.
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    assert "url(http" not in page and "@import" not in page
    # Every mode's class and tags are on the page.
    for label, tags in modes.select("label", "tags").iter_rows():
        assert f'<span class="cls">{label}</span>' in page
        for t in tags:
            assert f'<span class="tag">{t}</span>' in page


def test_select_images_errors_first(
    report_inputs: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict[object, bytes]],
) -> None:
    modes, detect, _, _ = report_inputs
    correct = dict(zip(detect["id"].to_list(), detect["correct"].to_list(), strict=True))
    chosen = select_images(modes, detect, per_mode=6)
    for (label, tags), ids in zip(modes.select("label", "tags").iter_rows(), chosen, strict=True):
        assert 0 < len(ids) <= 6
        flags = [correct[i] for i in ids]
        assert flags == sorted(flags)  # errors (False) first
        rows = detect.filter(pl.col("id").is_in(ids))
        assert set(rows["label"].to_list()) == {label}
        assert all(set(tags) <= set(t) for t in rows["tags"].to_list())


def test_report_escapes_markup() -> None:
    df = pl.DataFrame(
        {
            "id": range(40),
            "label": ["<b>x</b>"] * 40,
            "correct": [i % 4 == 0 for i in range(20)] + [True] * 20,
            "tags": [["<script>alert(1)</script>"]] * 20 + [[]] * 20,
        }
    )
    modes = find_failure_modes(df, min_support=10, min_drop=0.2)
    assert modes.height == 1
    page = render_report(modes, df)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_report_fast_with_1000_modes() -> None:
    data = synthetic.generate(synthetic.SPARSE)
    detect = data.samples
    modes = find_failure_modes(detect, min_support=15, min_drop=0.2, max_tags=3).head(1000)
    assert modes.height == 1000
    t0 = time.perf_counter()
    page = render_report(modes, detect)
    assert time.perf_counter() - t0 < 10
    assert page.count('class="card"') == 1000
    assert len(page) < 5_000_000


def test_report_command(tmp_path: Path) -> None:
    detect, holdout = _splits()
    samples = tmp_path / "samples.parquet"
    pl.concat([detect, holdout]).write_parquet(samples)
    modes = tmp_path / "modes.parquet"
    find_failure_modes(detect, max_tags=2, min_support=20).write_parquet(modes)
    out = tmp_path / "r.html"
    result = CliRunner().invoke(
        cli,
        [
            "report", str(modes), str(samples), "-o", str(out),
            "--split-column", "split", "--holdout", "holdout",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    page = out.read_text(encoding="utf-8")
    assert 'class="scatter"' in page and "holdout n" in page


def test_report_command_needs_split_column(tmp_path: Path) -> None:
    detect, _ = _splits()
    samples = tmp_path / "samples.parquet"
    detect.write_parquet(samples)
    modes = tmp_path / "modes.parquet"
    find_failure_modes(detect, max_tags=2, min_support=20).write_parquet(modes)
    result = CliRunner().invoke(cli, ["report", str(modes), str(samples), "--holdout", "x"])
    assert result.exit_code == 2
    assert "--split-column" in result.output


def test_report_thumbnails(tmp_path: Path) -> None:
    detect, _ = _splits()
    modes = find_failure_modes(detect, max_tags=2, min_support=20).head(3)
    assert report_thumbnails(modes, detect) == {}  # no path column, no table
    # From image files: only the images the cards show are read.
    ids = detect["id"].to_list()
    (tmp_path / "img").mkdir()
    for i in ids:
        (tmp_path / "img" / f"{i}.png").write_bytes(_png(int(i) % 256))
    with_paths = detect.with_columns(path=pl.format("img/{}.png", pl.col("id")))
    thumbs = report_thumbnails(modes, with_paths, per_mode=4, image_root=tmp_path)
    shown = {i for group in select_images(modes, with_paths, per_mode=4) for i in group}
    assert set(thumbs) == shown and 0 < len(shown) <= 12
    assert all(b[:4] == b"\x89PNG" for b in thumbs.values())
    assert report_thumbnails(modes, with_paths, per_mode=0, image_root=tmp_path) == {}
    # From a thumbnails table: all of it, whatever the path column says.
    table = tmp_path / "thumbs.parquet"
    pl.DataFrame({"id": ids[:5], "image": [_png(1)] * 5}).write_parquet(table)
    assert set(report_thumbnails(modes, with_paths, thumbnails=table)) == set(ids[:5])
    with pytest.raises(InputError, match="per_mode"):
        report_thumbnails(modes, detect, per_mode=-1)


def test_report_from_files(tmp_path: Path) -> None:
    detect, holdout = _splits()
    samples = tmp_path / "samples.parquet"
    write_table(pl.concat([detect, holdout]), samples)
    modes = find_failure_modes(detect, max_tags=2, min_support=20)
    modes_path = tmp_path / "modes.csv"
    write_table(modes, modes_path)
    done = report_from_files(
        modes_path, samples, tmp_path / "out" / "r.html", split_column="split",
        holdout="holdout", title="Mine",
    )  # fmt: skip
    assert done == {"path": tmp_path / "out" / "r.html", "n_modes": modes.height, "n_images": 0}
    page = done["path"].read_text(encoding="utf-8")
    assert page.count('class="card"') == modes.height
    assert "holdout n" in page and "<title>Mine" in page and "modes.csv on samples.parquet" in page
    # The same page as render_report on the same tables (but for when and how fast it was made).
    same = render_report(
        modes, detect, holdout=holdout, images_per_mode=8, title="Mine",
        subtitle="modes.csv on samples.parquet",
    )  # fmt: skip
    stamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC|built in [\d.]+ s")
    assert stamp.sub("", page) == stamp.sub("", same)
    with pytest.raises(ParameterError, match="split_column"):
        report_from_files(modes_path, samples, tmp_path / "x.html", holdout="holdout")
    with pytest.raises(InputError, match="no row has split == 'val'"):
        report_from_files(
            modes_path, samples, tmp_path / "x.html", split_column="split", detect="val"
        )
    assert not (tmp_path / "x.html").exists()


def _chromium(*args: str, timeout: int = 90) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@pytest.mark.browser
def test_report_in_chromium(
    tmp_path: Path,
    report_inputs: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict[object, bytes]],
) -> None:
    assert CHROMIUM is not None, "needs Debian's chromium package (apt-get install chromium)"
    modes, detect, holdout, thumbs = report_inputs
    page = write_report(tmp_path / "report.html", modes, detect, holdout=holdout, thumbnails=thumbs)
    url = page.resolve().as_uri()
    dom = _chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # The script ran: the table of all modes is filled in, one row per mode.
    body = html.split('id="modes"', 1)[1].split("</table>", 1)[0]
    assert body.count("<tr>") == modes.height + 1  # + the header row
    assert f"{modes.height} of {modes.height} modes" in html
    assert html.count('class="card"') == modes.height
    assert html.count('class="ladder"') == modes.height
    assert html.count('class="thumb') >= modes.height
    assert "<circle" in html
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    taken = _chromium(f"--screenshot={shot}", "--window-size=1400,1800", url)
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.stat().st_size > 10_000
    assert shot.read_bytes()[:4] == b"\x89PNG"
