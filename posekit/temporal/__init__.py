"""Keypoints over time: people followed from frame to frame (:mod:`.tracker`) and their joints smoothed along each
track (:mod:`.one_euro`). Both work on numpy arrays only, so they serve video prediction and any caller alike."""
