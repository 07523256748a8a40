"""Greeter: one image answering as v1 or v2, so a mesh can split traffic between versions."""
