"""Measure what PRIME claims, on your own model and data (paper sections 4 and 5).

* :func:`generalization`, :func:`generalization_summary`, :func:`sweep` — do modes found on
  one split hold on unseen data, and how does that depend on ``min_support`` and ``min_drop``?
* :func:`description_quality`, :func:`retrieval_generalization` — how well captions describe
  their images, measured with CLIP (needs the vision extra for the model).
* :func:`domino_slices`, :class:`DominoMixture`, :func:`compare` — a DOMINO-style baseline
  and the side-by-side comparison of Fig. 6.
* :func:`ladder`, :func:`tag_overlap`, :func:`distance_by_shared_tags`,
  :func:`neighbor_shared_tags` — the analyses of section 5.
* :func:`generation_prompts`, :func:`generated_accuracy`, :func:`prompt_counts` — prompts for
  generated data (4.2).
* :func:`load_splits`, :func:`load_split`, :func:`read_modes`, :func:`read_vocabulary`,
  :func:`write_comparison` — the detect and holdout samples, and the files the commands read
  and write.

Nothing here imports torch or matplotlib until a function needs it.

>>> from prime_rs import evaluate, synthetic
>>> data = synthetic.generate(synthetic.SMALL).samples
>>> modes = evaluate.generalization(
...     __import__("prime_rs").find_failure_modes(data, max_tags=3), data)
>>> bool((modes["holdout_drop"] == modes["drop"]).all())  # the same data: the same drops
True
"""

from prime_rs.evaluate._common import (
    DEFAULT_TEMPLATE,
    auroc,
    caption,
    load_split,
    load_splits,
    read_modes,
    split_samples,
)
from prime_rs.evaluate.analyses import (
    distance_by_shared_tags,
    ladder,
    neighbor_shared_tags,
    tag_overlap,
    tag_overlap_summary,
)
from prime_rs.evaluate.compare import (
    compare,
    default_vocabulary,
    read_vocabulary,
    write_comparison,
)
from prime_rs.evaluate.domino import DominoMixture, describe, domino_slices, pca
from prime_rs.evaluate.embeddings import (
    EmbeddingCache,
    align_embeddings,
    embed_samples,
    embeddings_table,
    read_embeddings,
)
from prime_rs.evaluate.generalization import (
    HOLDOUT_COLUMNS,
    generalization,
    generalization_summary,
    sweep,
)
from prime_rs.evaluate.plots import generalization_plot, quality_plot, sweep_plot
from prime_rs.evaluate.prompts import (
    generated_accuracy,
    generation_prompts,
    prompt_counts,
    read_prompts,
    write_prompts,
)
from prime_rs.evaluate.quality import (
    DEFAULT_TEMPLATES,
    caption_embeddings,
    description_quality,
    group_captions,
    quality_summary,
    retrieval_generalization,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "DEFAULT_TEMPLATES",
    "HOLDOUT_COLUMNS",
    "DominoMixture",
    "EmbeddingCache",
    "align_embeddings",
    "auroc",
    "caption",
    "caption_embeddings",
    "compare",
    "default_vocabulary",
    "describe",
    "description_quality",
    "distance_by_shared_tags",
    "domino_slices",
    "embed_samples",
    "embeddings_table",
    "generalization",
    "generalization_plot",
    "generalization_summary",
    "generated_accuracy",
    "generation_prompts",
    "group_captions",
    "ladder",
    "load_split",
    "load_splits",
    "neighbor_shared_tags",
    "pca",
    "prompt_counts",
    "quality_plot",
    "quality_summary",
    "read_embeddings",
    "read_modes",
    "read_prompts",
    "read_vocabulary",
    "retrieval_generalization",
    "split_samples",
    "sweep",
    "sweep_plot",
    "tag_overlap",
    "tag_overlap_summary",
    "write_comparison",
    "write_prompts",
]
