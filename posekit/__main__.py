"""``python -m posekit`` (also the entry point for ``torchrun -m posekit``)."""

from posekit.cli import main

if __name__ == "__main__":
    main()
