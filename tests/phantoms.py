"""Small numerical phantoms shared by the reconstruction tests."""

import numpy as np


def ellipsoid_phantom(shape):
    """A Shepp-Logan-like phantom of nested ellipsoids (2D or 3D), values in [0, 1]."""
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    parts = [
        (1.0, (0.69, 0.92, 0.9), (0, 0, 0)),
        (-0.8, (0.66, 0.87, 0.85), (0, -0.02, 0)),
        (-0.2, (0.31, 0.11, 0.2), (0, 0, 0.22)),
        (-0.2, (0.41, 0.16, 0.25), (0, 0, -0.22)),
        (0.3, (0.25, 0.21, 0.3), (0, 0.35, 0)),
        (0.1, (0.046, 0.046, 0.1), (0, 0.1, 0)),
        (0.2, (0.1, 0.1, 0.1), (0, -0.5, 0.3)),
    ]
    image = np.zeros(shape, np.float32)
    for value, axes, centre in parts:
        axes, centre = axes[-len(shape) :][::-1], centre[-len(shape) :][::-1]
        inside = sum(((g - c) / a) ** 2 for g, a, c in zip(grid, axes, centre)) <= 1
        image[inside] += value
    return image
