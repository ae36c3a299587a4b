"""Dataset converters for ``posekit prepare``: each turns a raw source into workspace HDF5 splits."""

from posekit.data.converters import synthetic  # noqa: F401  (registers "synthetic")
from posekit.data.converters.base import CONVERTERS, Converter  # noqa: F401
