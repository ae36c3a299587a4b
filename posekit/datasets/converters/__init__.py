"""Dataset converters for ``posekit prepare``: each turns a raw source into workspace HDF5 splits."""

from posekit.datasets.converters import (  # noqa: F401  (each module registers its converters)
    animalpose,
    coco,
    h36m,
    lsp,
    mpi_inf_3dhp,
    rhd,
    surreal,
    synanimal,
    synthetic,
    tigdog,
)
from posekit.datasets.converters.base import CONVERTERS, Converter  # noqa: F401
