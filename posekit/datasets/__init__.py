"""What ``posekit prepare`` builds from: the dataset converters (public releases → the HDF5 format of
``posekit.data``) and the synthetic generator (procedural and mesh bodies)."""
