"""Skinned body meshes (the `anny` body model, CC0 MakeHuman/MPFB2 assets) as a source of synthetic humans.

``posekit prepare synthetic --body mesh`` renders these instead of capsule mannequins and writes the same records.
``anny`` is an optional dependency: ``pip install 'posekit[bodies]'``.
"""

from __future__ import annotations

from posekit.errors import ConfigError

INSTALL_HINT = "pip install 'posekit[bodies]'"


def require_anny():
    """The ``anny`` module, or a ConfigError saying how to install it."""
    try:
        import anny
    except ImportError:
        raise ConfigError("--body mesh needs the optional body model package `anny`, which is not installed",
                          hint=INSTALL_HINT) from None
    return anny
