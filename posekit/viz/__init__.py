"""Pictures drawn with Pillow only: pose overlays, image grids and training curves."""
