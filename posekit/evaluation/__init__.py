"""Evaluation: predictions in original coordinates, PCK (standard and legacy protocols), tables."""
