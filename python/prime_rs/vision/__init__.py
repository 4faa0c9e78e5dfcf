"""The torch side of prime_rs: tag and predict images, resumably (optional extra ``vision``).

Install with ``pip install 'prime_rs[vision]'``. Importing this package, or any of its
modules, does not import torch; the functions that need it import it when called.

The modules are layers, bottom first; each imports only modules above it in this list (a
test checks every import, inside functions too), so there are no import circles:

- :mod:`~prime_rs.vision.digest`: checksums of model files.
- :mod:`~prime_rs.vision.sources`: image folders (one sub-folder per class) and manifests.
- :mod:`~prime_rs.vision.device`: device, precision and decoding workers.
- :mod:`~prime_rs.vision.images`: decoding images and preprocessing them for a model.
- :mod:`~prime_rs.vision.shards`: the resumable Parquet shard writer.
- :mod:`~prime_rs.vision.progress`: the progress bar.
- :mod:`~prime_rs.vision.vocabulary`: tag vocabularies (built-in and from files).
- :mod:`~prime_rs.vision.classifier`: the classifier under test (``prime predict``).
- :mod:`~prime_rs.vision.clip`: :class:`~prime_rs.vision.clip.ClipModel` (image and text
  embeddings from local open_clip weights).
- :mod:`~prime_rs.vision.taggers`: ``classifier``, ``clip``, ``ram`` and ``ram_plus`` taggers.
- :mod:`~prime_rs.vision.runner`: the batched, resumable inference loop.
- :mod:`~prime_rs.vision.jobs`: ``tag``, ``predict`` and ``retag`` as library functions
  (what the ``prime`` commands of those names call).
- :mod:`~prime_rs.vision.testing`: tiny random-weight models for tests.

:func:`prime_rs.pipeline.run` joins the jobs and the search into one call (``prime run``).
"""

from prime_rs.vision._deps import INSTALL_HINT, MissingDependency, require_vision

__all__ = ["INSTALL_HINT", "MissingDependency", "require_vision"]
