"""Datasets: real downloaders with checksums, registration-only detection, embedded generators.

``load_dataset(name, root, split)`` returns an :class:`ImageSet` for every dataset the
workflow knows, embedded or real.
"""

from attriflow.data.imageset import ImageSet

__all__ = ["ImageSet"]
