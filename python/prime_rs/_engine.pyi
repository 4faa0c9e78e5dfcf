"""Type stubs of the compiled engine (``prime_rs._engine``); private: use ``prime_rs``."""

from typing import Any, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ArrowData",
    "ArrowTable",
    "Predictions",
    "TagIndex",
    "TagNames",
    "__version__",
    "build_profile",
    "encode_strings",
    "rows_with_null_tags",
    "wilson_interval",
]

__version__: str
build_profile: str

def rows_with_null_tags(tags: object) -> npt.NDArray[np.uint64]: ...
def encode_strings(column: object) -> tuple[list[str], npt.NDArray[np.uint32]]: ...
def wilson_interval(
    n_correct: npt.NDArray[np.float64], n: npt.NDArray[np.float64], z: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...

@final
class ArrowData:
    def __arrow_c_array__(
        self, requested_schema: object | None = None
    ) -> tuple[object, object]: ...
    def __len__(self) -> int: ...

@final
class ArrowTable:
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    def __arrow_c_array__(
        self, requested_schema: object | None = None
    ) -> tuple[object, object]: ...
    def __len__(self) -> int: ...

@final
class Predictions: ...

@final
class TagNames:
    def __new__(cls, names: list[str]) -> TagNames: ...
    def lists(self, offsets: npt.NDArray[np.uint64], ids: npt.NDArray[np.uint32]) -> ArrowData: ...
    def __len__(self) -> int: ...

@final
class TagIndex:
    @staticmethod
    def from_csr(
        indptr: npt.NDArray[np.uint64],
        indices: npt.NDArray[np.uint32],
        class_ids: npt.NDArray[np.uint32],
        correct: npt.NDArray[np.bool_],
        n_classes: int,
        n_tags: int,
        min_tag_count: int = 1,
    ) -> TagIndex: ...
    @staticmethod
    def from_arrow_tags(
        tags: object,
        class_ids: npt.NDArray[np.uint32],
        correct: npt.NDArray[np.bool_],
        n_classes: int,
        min_tag_count: int = 1,
    ) -> tuple[TagIndex, list[str]]: ...
    @property
    def n_classes(self) -> int: ...
    @property
    def n_tags(self) -> int: ...
    def class_counts(self) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]: ...
    def stats(self, class_id: int, tags: list[int]) -> tuple[int, int]: ...
    def members(self, class_id: int, tags: list[int]) -> npt.NDArray[np.uint32]: ...
    def predictions(
        self,
        codes: npt.NDArray[np.uint32],
        code_class: npt.NDArray[np.int64],
        names: TagNames | None = None,
    ) -> Predictions: ...
    def with_correct(
        self, class_ids: npt.NDArray[np.uint32], correct: npt.NDArray[np.bool_]
    ) -> TagIndex: ...
    def search(
        self,
        *,
        max_tags: int,
        min_support: int,
        min_drop: float,
        necessity: list[float],
        min_tag_count: int | None = None,
        classes: list[int] | None = None,
        threads: int | None = None,
        beam_width: int | None = None,
        q_values: bool = True,
        names: TagNames | None = None,
        label_names: TagNames | None = None,
        z: float = 1.959963984540054,
        predictions: Predictions | None = None,
    ) -> dict[str, Any]: ...
    def frequent_sets(
        self,
        *,
        max_tags: int,
        min_support: int,
        min_tag_count: int | None = None,
        classes: list[int] | None = None,
        threads: int | None = None,
        names: TagNames | None = None,
        label_names: TagNames | None = None,
    ) -> dict[str, Any]: ...
    def q_value_family(
        self,
        *,
        max_tags: int,
        min_support: int,
        min_tag_count: int | None = None,
        classes: list[int] | None = None,
        threads: int | None = None,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float64], npt.NDArray[np.uint64]]: ...
