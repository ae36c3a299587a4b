"""Image-level alignment: style transfer of source images towards the target domain, cached in the workspace."""
