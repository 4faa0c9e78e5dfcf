"""The HTML report: one self-contained file, readable from disk with no network."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from prime_rs.errors import InputError
from prime_rs.index import TagIndex
from prime_rs.io import load_samples
from prime_rs.report import assets
from prime_rs.report.images import data_uri, report_thumbnails, select_images
from prime_rs.report.svg import accuracy_bar, generalization_scatter
from prime_rs.stats import wilson_interval

__all__ = ["render_report", "report_from_files", "write_report"]

#: Cards shown open per class; the others sit behind "more modes" (still in the page).
OPEN_CARDS = 6
#: The ladder lists every subset: at most this many tags get one.
MAX_LADDER_TAGS = 6


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _pct(x: float | None, digits: int = 0) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x * 100:.{digits}f}%"


def _drop(x: float | None) -> str:
    """A drop in percentage points, shown as a fall (``-35 pts``)."""
    return "–" if x is None else f"{-x * 100:+.0f} pts".replace("-", "−")


def _interval(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return ""
    return f"{low * 100:.0f}–{high * 100:.0f}%"


def _q(x: float | None) -> str:
    return "–" if x is None else f"{x:.1e}" if x < 0.001 else f"{x:.3f}"


class _Groups:
    """Support and correct count of (class, tag set) groups of one split, cached."""

    def __init__(self, index: TagIndex | None) -> None:
        self.index = index
        self.labels = set(index.labels) if index is not None else set()
        self.vocabulary = set(index.vocabulary) if index is not None else set()
        self.cache: dict[tuple[Any, tuple[str, ...]], tuple[int, int]] = {}

    def __call__(self, label: Any, tags: tuple[str, ...]) -> tuple[int, int] | None:
        if self.index is None:
            return None
        if label not in self.labels or any(t not in self.vocabulary for t in tags):
            return (0, 0) if label in self.labels else None
        key = (label, tags)
        hit = self.cache.get(key)
        if hit is None:
            st = self.index.stats(label, tags)
            hit = self.cache[key] = (int(st["support"]), int(st["n_correct"]))
        return hit


def _index(df: pl.DataFrame | None) -> TagIndex | None:
    return None if df is None or df.height == 0 else TagIndex.from_samples(df)


def _class_table(detect: pl.DataFrame, holdout: pl.DataFrame | None) -> dict[Any, dict[str, Any]]:
    def per(df: pl.DataFrame) -> dict[Any, tuple[int, int]]:
        correct = (
            pl.col("correct")
            if "correct" in df.columns
            else pl.col("label") == pl.col("prediction")
        )
        g = df.group_by("label").agg(n=pl.len(), k=correct.cast(pl.Int64).sum())
        return {r[0]: (int(r[1]), int(r[2])) for r in g.iter_rows()}

    d = per(detect)
    h = per(holdout) if holdout is not None else {}
    out = {}
    for label in sorted(d, key=lambda v: (str(type(v)), v)):
        n, k = d[label]
        hn, hk = h.get(label, (0, 0))
        out[label] = {
            "n": n,
            "accuracy": k / n if n else None,
            "holdout_n": hn,
            "holdout_accuracy": hk / hn if hn else None,
        }
    return out


def _ladder_html(
    label: Any, tags: list[str], detect: _Groups, holdout: _Groups, confidence: float
) -> str:
    if len(tags) > MAX_LADDER_TAGS:
        return ""
    subsets = [c for k in range(len(tags) + 1) for c in combinations(tags, k)]
    d = [detect(label, s) or (0, 0) for s in subsets]
    h = [holdout(label, s) for s in subsets]
    has_h = holdout.index is not None
    dn = np.array([x[0] for x in d])
    dk = np.array([x[1] for x in d])
    dlow, dhigh = wilson_interval(dk, dn, confidence)
    hn = np.array([x[0] if x else 0 for x in h])
    hk = np.array([x[1] if x else 0 for x in h])
    hlow, hhigh = wilson_interval(hk, hn, confidence)
    base = dk[0] / dn[0] if dn[0] else None
    hbase = hk[0] / hn[0] if hn[0] else None
    head = "<tr><th>tags</th><th>support</th><th>accuracy</th><th>drop</th>"
    if has_h:
        head += '<th class="h">holdout n</th><th class="h">accuracy</th><th class="h">drop</th>'
    rows = [f'<table class="ladder"><thead>{head}</tr></thead><tbody>']
    for i, s in enumerate(subsets):
        name = "whole class" if not s else " + ".join(_esc(t) for t in s)
        acc = dk[i] / dn[i] if dn[i] else None
        cls = ' class="full"' if len(s) == len(tags) else ""
        cells = [
            f"<td>{name}</td><td>{dn[i]:,}</td>",
            f'<td>{_pct(acc)} <span class="ci">{_interval(*_ci(dlow, dhigh, i, dn))}</span></td>',
            f"<td>{_drop(None if acc is None or base is None or not s else base - acc)}</td>",
        ]
        if has_h:
            hacc = hk[i] / hn[i] if hn[i] else None
            hd = None if hacc is None or hbase is None or not s else hbase - hacc
            cells += [
                f'<td class="h">{hn[i]:,}</td>',
                f'<td class="h">{_pct(hacc)} '
                f'<span class="ci">{_interval(*_ci(hlow, hhigh, i, hn))}</span></td>',
                f'<td class="h">{_drop(hd)}</td>',
            ]
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    rows.append("</tbody></table>")
    return "".join(rows)


def _ci(low: np.ndarray, high: np.ndarray, i: int, n: np.ndarray) -> tuple[float | None, ...]:
    return (float(low[i]), float(high[i])) if n[i] else (None, None)


def _get(row: Mapping[str, Any], key: str) -> Any:
    v = row.get(key)
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def _card(
    row: Mapping[str, Any],
    anchor: str,
    ladder: str,
    thumbs: list[tuple[int, Any, Any]],
) -> str:
    tags = row["tags"] or []
    chips = "".join(f'<span class="tag">{_esc(t)}</span>' for t in tags)
    acc, cacc = row["accuracy"], row["class_accuracy"]
    low, high = _get(row, "accuracy_low"), _get(row, "accuracy_high")
    facts = [
        f"<div><b>{row['support']:,}</b> images</div>",
        f"<div>accuracy <b>{_pct(acc)}</b> "
        f'<span class="ci">{_interval(low, high)}</span> vs class {_pct(cacc)}</div>',
        f'<div class="drop">{_drop(row["drop"])}</div>',
    ]
    if _get(row, "q_value") is not None:
        facts.append(f"<div>q {_q(row['q_value'])}</div>")
    if _get(row, "confused_with") is not None:
        share = _get(row, "confused_share")
        facts.append(
            f"<div>errors mistaken for <b>{_esc(row['confused_with'])}</b>"
            f"{f' ({_pct(share)})' if share is not None else ''}</div>"
        )
    if "holdout_support" in row:
        hacc = _get(row, "holdout_accuracy")
        if hacc is None:
            facts.append('<div class="hold">holdout: no samples</div>')
        else:
            hl, hh = _get(row, "holdout_accuracy_low"), _get(row, "holdout_accuracy_high")
            facts.append(
                f'<div class="hold">holdout <b>{_pct(hacc)}</b> '
                f'<span class="ci">{_interval(hl, hh)}</span> on {row["holdout_support"]:,} '
                f"vs class {_pct(_get(row, 'holdout_class_accuracy'))} "
                f"({_drop(_get(row, 'holdout_drop'))})</div>"
            )
    grid = ""
    if thumbs:
        figs = []
        for k, _sid, wrong_as in thumbs:
            cap = f"→ {_esc(wrong_as)}" if wrong_as is not None else "✓"
            bad = " bad" if wrong_as is not None else ""
            figs.append(
                f'<figure class="thumb{bad}"><span class="im i{k}" role="img"></span>'
                f"<figcaption>{cap}</figcaption></figure>"
            )
        grid = f'<div class="thumbs">{"".join(figs)}</div>'
    bar = accuracy_bar(acc, low, high, cacc)
    return (
        f'<article class="card" id="{anchor}"><header><span class="cls">{_esc(row["label"])}'
        f"</span>{chips}</header>"
        f'<div class="facts">{"".join(facts)}</div>{bar}{grid}'
        f'<details class="lad" open><summary>accuracy ladder</summary>{ladder}</details>'
        "</article>"
    )


def render_report(
    modes: pl.DataFrame,
    samples: pl.DataFrame | str | Path,
    *,
    holdout: pl.DataFrame | str | Path | None = None,
    thumbnails: Mapping[Any, bytes] | None = None,
    images_per_mode: int = 8,
    title: str = "Failure modes",
    subtitle: str = "",
    parameters: Mapping[str, Any] | None = None,
    confidence: float = 0.95,
) -> str:
    """The HTML of a failure-mode report.

    Parameters
    ----------
    modes
        A mode table (from :func:`prime_rs.find_failure_modes`; the holdout columns of
        :func:`prime_rs.evaluate.generalization` are shown when present, and computed here
        when ``holdout`` is given and they are not).
    samples
        The samples the modes were found on (the detect split).
    holdout
        Unseen samples: ladders and modes are re-measured on them.
    thumbnails
        Encoded images (PNG / JPEG bytes) by sample id, embedded as data URIs; ``None`` or
        empty: no images.
    images_per_mode
        Most images per mode card.
    title, subtitle
        Shown at the top of the page.
    parameters
        The search parameters, shown in the overview (default: what the modes imply).
    confidence
        Level of the Wilson intervals of the ladders.

    Returns
    -------
    str
        A complete HTML document, without any external reference.

    Examples
    --------
    >>> from prime_rs import find_failure_modes, synthetic
    >>> data = synthetic.generate(synthetic.SMALL)
    >>> modes = find_failure_modes(data.samples, max_tags=2)
    >>> page = render_report(modes, data.samples)
    >>> page.startswith("<!DOCTYPE html>") and 'class="card"' in page
    True
    """
    t0 = time.perf_counter()
    detect = load_samples(samples, source="samples")
    held = load_samples(holdout, source="holdout") if holdout is not None else None
    for col in ("label", "tags"):
        if col not in modes.columns:
            raise InputError(f"modes: need a {col!r} column (a table from prime search)")
    d_index = _index(detect)
    h_index = _index(held)
    if held is not None and "holdout_support" not in modes.columns and modes.height:
        from prime_rs.evaluate.generalization import generalization

        modes = generalization(modes, h_index if h_index is not None else held)
    if "accuracy" not in modes.columns:
        from prime_rs.evaluate.generalization import generalization as measure

        m = measure(modes.select("label", "tags"), detect)
        modes = modes.with_columns(
            support=m["holdout_support"],
            accuracy=m["holdout_accuracy"],
            class_accuracy=m["holdout_class_accuracy"],
            drop=m["holdout_drop"],
            accuracy_low=m["holdout_accuracy_low"],
            accuracy_high=m["holdout_accuracy_high"],
        )
    classes = _class_table(detect, held)
    class_names = [str(c) for c in classes]
    class_pos = {c: i for i, c in enumerate(classes)}
    dg, hg = _Groups(d_index), _Groups(h_index)

    thumbs = dict(thumbnails or {})
    chosen = select_images(
        modes, detect, per_mode=images_per_mode if thumbs else 0, available=thumbs.keys()
    )
    image_keys: dict[Any, int] = {}
    wrong_as: dict[Any, Any] = {}
    if thumbs and "prediction" in detect.columns:
        sub = detect.filter(pl.col("label") != pl.col("prediction"))
        wrong_as = dict(zip(sub["id"].to_list(), sub["prediction"].to_list(), strict=True))
    elif thumbs and "correct" in detect.columns:
        sub = detect.filter(~pl.col("correct"))
        wrong_as = dict.fromkeys(sub["id"].to_list(), "?")

    rows = modes.to_dicts()
    by_class: dict[Any, list[int]] = {}
    for i, r in enumerate(rows):
        by_class.setdefault(r["label"], []).append(i)
    cards: list[str] = []
    table_rows: list[list[Any]] = []
    anchors = [f"m{i}" for i in range(len(rows))]
    for i, r in enumerate(rows):
        tags = list(r["tags"] or [])
        ladder = _ladder_html(r["label"], tags, dg, hg, confidence)
        shown = []
        for sid in chosen[i]:
            k = image_keys.setdefault(sid, len(image_keys))
            shown.append((k, sid, wrong_as.get(sid)))
        cards.append(_card(r, anchors[i], ladder, shown))
        table_rows.append(
            [
                anchors[i],
                str(r["label"]),
                " + ".join(tags),
                len(tags),
                r.get("support"),
                _round(r.get("accuracy")),
                _round(r.get("class_accuracy")),
                _round(r.get("drop")),
                _get(r, "q_value"),
                str(r["confused_with"]) if _get(r, "confused_with") is not None else "",
                _round(_get(r, "holdout_accuracy")),
                _round(_get(r, "holdout_drop")),
                r.get("holdout_support"),
            ]
        )

    sections = []
    for label, info in classes.items():
        idx = by_class.get(label, [])
        if not idx:
            continue
        idx = sorted(idx, key=lambda j: -(rows[j]["drop"] or 0.0))
        opened = "".join(cards[j] for j in idx[:OPEN_CARDS])
        more = ""
        if len(idx) > OPEN_CARDS:
            more = (
                f'<details class="more"><summary>{len(idx) - OPEN_CARDS} more modes in '
                f"{_esc(label)}</summary>"
                f'<div class="cards">{"".join(cards[j] for j in idx[OPEN_CARDS:])}</div></details>'
            )
        hold = ""
        if info["holdout_n"]:
            hold = f", holdout {_pct(info['holdout_accuracy'], 1)} on {info['holdout_n']:,}"
        sections.append(
            f'<section class="class" id="c{class_pos[label]}"><h3>{_esc(label)} '
            f"<small>accuracy {_pct(info['accuracy'], 1)} on {info['n']:,} images{hold}; "
            f"{len(idx)} mode{'s' if len(idx) != 1 else ''}</small></h3>"
            f'<div class="cards">{opened}</div>{more}</section>'
        )

    scatter = ""
    if "holdout_drop" in modes.columns:
        keep = [i for i, r in enumerate(rows) if _get(r, "holdout_drop") is not None]
        if keep:
            hca = [rows[i]["holdout_class_accuracy"] for i in keep]
            scatter = generalization_scatter(
                [rows[i]["drop"] for i in keep],
                [rows[i]["holdout_drop"] for i in keep],
                [
                    c - _get(rows[i], "holdout_accuracy_high")
                    for c, i in zip(hca, keep, strict=True)
                ],
                [c - _get(rows[i], "holdout_accuracy_low") for c, i in zip(hca, keep, strict=True)],
                [class_pos.get(rows[i]["label"], 0) for i in keep],
                [
                    f"{rows[i]['label']}: {' + '.join(rows[i]['tags'] or [])} — detect "
                    f"{_drop(rows[i]['drop'])}, holdout {_drop(rows[i]['holdout_drop'])}"
                    for i in keep
                ],
                [anchors[i] for i in keep],
                class_names,
            )

    image_css = "".join(
        f".i{k}{{background-image:url({data_uri(thumbs[sid])})}}" for sid, k in image_keys.items()
    )
    page = assets.page(
        title=_esc(title),
        subtitle=_esc(subtitle),
        overview=_overview(detect, held, modes, classes, class_pos, by_class, rows, parameters),
        scatter=scatter,
        sections="".join(sections),
        table_json=json.dumps(table_rows, ensure_ascii=False).replace("</", "<\\/"),
        has_holdout="holdout_drop" in modes.columns,
        image_css=image_css,
        footer=_esc(
            f"prime_rs report, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
            f"{len(rows):,} modes, {len(image_keys):,} images; "
            f"built in {time.perf_counter() - t0:.2f} s"
        ),
    )
    return page


def _round(x: Any) -> Any:
    return None if x is None else round(float(x), 4)


def _overview(
    detect: pl.DataFrame,
    held: pl.DataFrame | None,
    modes: pl.DataFrame,
    classes: dict[Any, dict[str, Any]],
    class_pos: dict[Any, int],
    by_class: dict[Any, list[int]],
    rows: list[dict[str, Any]],
    parameters: Mapping[str, Any] | None,
) -> str:
    n = detect.height
    correct = (
        detect["correct"]
        if "correct" in detect.columns
        else detect["label"] == detect["prediction"]
    )
    acc = float(correct.mean()) if n else None  # type: ignore[arg-type]
    tiles = [
        ("images searched", f"{n:,}"),
        ("classes", f"{len(classes)}"),
        ("accuracy", _pct(acc, 1)),
        ("failure modes", f"{modes.height:,}"),
        ("classes with a mode", f"{len(by_class)}"),
    ]
    if held is not None:
        hc = held["correct"] if "correct" in held.columns else held["label"] == held["prediction"]
        tiles.append(("holdout images", f"{held.height:,}"))
        tiles.append(("holdout accuracy", _pct(float(hc.mean()), 1)))  # type: ignore[arg-type]
    if "holdout_drop" in modes.columns and modes.height:
        from prime_rs.evaluate.generalization import generalization_summary

        s = generalization_summary(modes)
        if s["n_measured"]:
            tiles.append(
                (
                    f"keep a drop ≥ {s['min_drop'] * 100:g} pts on holdout",
                    f"{s['n_generalize']} of {s['n_measured']}",
                )
            )
    tile_html = "".join(
        f'<div class="tile"><div class="v">{v}</div><div class="k">{_esc(k)}</div></div>'
        for k, v in tiles
    )
    params = dict(parameters or {})
    if not params and modes.height:
        params = {
            "largest tag set (max_tags)": int(modes["n_tags"].max()),  # type: ignore[arg-type]
            "smallest support": int(modes["support"].min()),  # type: ignore[arg-type]
            "smallest drop": _pct(float(modes["drop"].min()), 1),  # type: ignore[arg-type]
        }
    param_html = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in params.items())
    has_h = held is not None
    head = "<tr><th>class</th><th>images</th><th>accuracy</th>"
    head += "<th>holdout accuracy</th>" if has_h else ""
    head += "<th>modes</th><th>strongest mode</th></tr>"
    body = []
    for label, info in classes.items():
        idx = by_class.get(label, [])
        best = max(idx, key=lambda j: rows[j]["drop"] or 0.0) if idx else None
        strongest = (
            f'<a href="#m{best}">{_esc(" + ".join(rows[best]["tags"] or []))}</a> '
            f"({_pct(rows[best]['accuracy'])})"
            if best is not None
            else ""
        )
        link = f'<a href="#c{class_pos[label]}">{_esc(label)}</a>' if idx else _esc(label)
        body.append(
            f"<tr><td>{link}</td><td>{info['n']:,}</td><td>{_pct(info['accuracy'], 1)}</td>"
            + (f"<td>{_pct(info['holdout_accuracy'], 1)}</td>" if has_h else "")
            + f"<td>{len(idx)}</td><td>{strongest}</td></tr>"
        )
    return (
        f'<div class="tiles">{tile_html}</div>'
        f'<div class="ov"><table class="classes"><thead>{head}</thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
        f'<div><h3>Parameters</h3><dl class="params">{param_html}</dl>'
        '<p class="help">A <b>failure mode</b> is a set of tags whose images of one class the '
        "model gets wrong far more often than the class as a whole, and which needs all of its "
        "tags (the ladder shows each subset). Intervals are 95% Wilson intervals.</p></div></div>"
    )


def write_report(output: str | Path, modes: pl.DataFrame, samples: Any, **kwargs: Any) -> Path:
    """Write :func:`render_report`'s page to ``output`` (UTF-8) and return its path.

    Examples
    --------
    >>> import tempfile
    >>> from prime_rs import find_failure_modes, synthetic
    >>> data = synthetic.generate(synthetic.SMALL)
    >>> modes = find_failure_modes(data.samples, max_tags=2)
    >>> p = write_report(Path(tempfile.mkdtemp()) / "r.html", modes, data.samples)
    >>> p.stat().st_size > 1000
    True
    """
    p = Path(output)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True)
    p.write_text(render_report(modes, samples, **kwargs), encoding="utf-8")
    return p


def report_from_files(
    modes: str | Path,
    samples: str | Path,
    output: str | Path = "report.html",
    *,
    split_column: str | None = None,
    detect: str | None = None,
    holdout: str | None = None,
    thumbnails: str | Path | None = None,
    image_root: str | Path | None = None,
    images_per_mode: int = 8,
    title: str = "Failure modes",
) -> dict[str, Any]:
    """``prime report`` as a function: read the mode and samples files, write the report.

    Parameters
    ----------
    modes
        A mode table file (from ``prime search -o``).
    samples
        The samples file the modes were searched on.
    output
        The HTML file to write.
    split_column, detect, holdout
        With ``split_column``, the modes come from the ``detect`` split (default
        ``"detect"``) and are re-measured on the ``holdout`` split, when given (see
        :func:`prime_rs.evaluate.load_splits`).
    thumbnails, image_root, images_per_mode
        Where the images come from and how many each mode shows (see
        :func:`prime_rs.report.images.report_thumbnails`).
    title
        The title of the page; its subtitle names the two files.

    Returns
    -------
    dict
        ``path`` (the report), ``n_modes``, and ``n_images`` (thumbnails available).

    Examples
    --------
    >>> import tempfile
    >>> from prime_rs import find_failure_modes, synthetic, write_table
    >>> d = Path(tempfile.mkdtemp())
    >>> data = synthetic.generate(synthetic.SMALL).samples
    >>> _ = write_table(data, d / "samples.parquet")
    >>> _ = write_table(find_failure_modes(data, max_tags=2), d / "modes.parquet")
    >>> r = report_from_files(d / "modes.parquet", d / "samples.parquet", d / "report.html")
    >>> r["path"].name, r["n_modes"] > 0
    ('report.html', True)
    """
    from prime_rs.evaluate._common import load_splits, read_modes

    mode_table = read_modes(modes)
    detect_rows, holdout_rows = load_splits(
        samples, split_column=split_column, detect=detect, holdout=holdout, source=str(samples)
    )
    thumbs = report_thumbnails(
        mode_table,
        detect_rows,
        per_mode=images_per_mode,
        thumbnails=thumbnails,
        image_root=image_root,
    )
    path = write_report(
        output,
        mode_table,
        detect_rows,
        holdout=holdout_rows,
        thumbnails=thumbs,
        images_per_mode=images_per_mode,
        title=title,
        subtitle=f"{Path(modes).name} on {Path(samples).name}",
    )
    return {"path": path, "n_modes": mode_table.height, "n_images": len(thumbs)}
