"""The shared training engine: loop, checkpoints, seeding, logging."""
