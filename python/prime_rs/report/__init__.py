"""The HTML report of failure modes: one self-contained file, readable from disk.

>>> from prime_rs import find_failure_modes, synthetic
>>> from prime_rs.report import render_report
>>> data = synthetic.generate(synthetic.SMALL)
>>> "<table" in render_report(find_failure_modes(data.samples, max_tags=2), data.samples)
True
"""

from prime_rs.report.images import (
    load_thumbnails,
    make_thumbnails,
    report_thumbnails,
    select_images,
)
from prime_rs.report.render import render_report, report_from_files, write_report

__all__ = [
    "load_thumbnails",
    "make_thumbnails",
    "render_report",
    "report_from_files",
    "report_thumbnails",
    "select_images",
    "write_report",
]
