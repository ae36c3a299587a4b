"""Networks: backbones, heads and the pose network."""
