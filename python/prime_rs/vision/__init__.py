"""The torch side of prime_rs: tag and predict images, resumably (optional extra ``vision``).

Install with ``pip install 'prime_rs[vision]'``. Importing this package does not import
torch; the modules that need it import it inside their functions.

- :mod:`~prime_rs.vision.sources`: image folders (one sub-folder per class) and manifests.
- :mod:`~prime_rs.vision.taggers`: ``classifier``, ``clip``, ``ram`` and ``ram_plus`` taggers.
- :mod:`~prime_rs.vision.classifier`: the classifier under test (``prime predict``).
- :mod:`~prime_rs.vision.clip`: :class:`~prime_rs.vision.clip.ClipModel` (image and text
  embeddings from local open_clip weights).
- :mod:`~prime_rs.vision.shards`: the resumable Parquet shard writer.
- :mod:`~prime_rs.vision.runner`: the batched, resumable inference loop.
- :mod:`~prime_rs.vision.testing`: tiny random-weight models for tests.
"""

from prime_rs.vision._deps import INSTALL_HINT, MissingDependency, require_vision

__all__ = ["INSTALL_HINT", "MissingDependency", "require_vision"]
