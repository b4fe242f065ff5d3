from stability.data import DATASETS, Dataset, NeighbouringPair, flip_labels, load_dataset, neighbouring, shuffle_labels
from stability.models import MODELS, build_model

__all__ = [
    "DATASETS",
    "Dataset",
    "MODELS",
    "NeighbouringPair",
    "build_model",
    "flip_labels",
    "load_dataset",
    "neighbouring",
    "shuffle_labels",
]
