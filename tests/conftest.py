"""Shared test set-up: markers by area, so a run can leave an area out (``-m "not vision"``).

Every test under ``tests/vision/`` is marked ``vision`` (it needs the vision extra: torch),
every test that drives a headless browser ``browser``, and the long ones ``slow``. ``make
test`` runs them all; nothing is skipped by default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prime_rs.vision.testing import TinyClip, make_tiny_clip

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


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyClip:
    """A tiny open_clip model with random weights, saved as a user's checkpoint would be."""
    return make_tiny_clip(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="session")
def clip(tiny: TinyClip) -> Any:
    """The tiny CLIP model loaded through the same code a real checkpoint goes through."""
    from prime_rs.vision.clip import ClipModel

    return ClipModel.load(tiny.model_name, tiny.checkpoint, device="cpu", model_config=tiny.config)
