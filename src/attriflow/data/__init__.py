"""Datasets: real downloaders with checksums, registration-only detection, embedded generators.

``load_dataset(name, root, split)`` returns an :class:`ImageSet` for every dataset the
workflow knows, embedded or real.
"""

from attriflow.data.imageset import ImageSet
from attriflow.data.loading import DATASETS, load_dataset

__all__ = ["DATASETS", "ImageSet", "load_dataset"]
