"""Shared test set-up: markers by area, so a run can leave an area out (``-m "not vision"``).

Every test under ``tests/vision/`` is marked ``vision`` (it needs the vision extra: torch),
every test that drives a headless browser ``browser``, and the long ones ``slow``. ``make
test`` runs them all; nothing is skipped by default.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent
#: Areas whose every test needs torch (the vision extra).
_VISION_AREAS = {"vision"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            area = Path(str(item.path)).relative_to(_HERE).parts[0]
        except ValueError:
            continue  # a doctest in the package
        if area in _VISION_AREAS:
            item.add_marker(pytest.mark.vision)
