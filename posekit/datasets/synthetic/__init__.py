"""The built-in procedural benchmark: articulated 3D bodies rendered into two domains with a controlled gap."""
