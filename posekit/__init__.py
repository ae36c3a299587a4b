"""posekit: unsupervised domain-adaptive pose estimation."""

__version__ = "0.1.0"
