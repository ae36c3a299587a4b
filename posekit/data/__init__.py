"""Datasets: keypoint metadata, the HDF5 format, loaders, augmentation and heatmap codecs."""
