"""The canonical raw-data form every reader produces and every reconstruction consumes.

Conventions (see docs/conventions.md):

* k-space is complex64 with axes ``(echo, coil, kz, ky, kx)``; kx is the readout.
* Image arrays inside the library use the matching axes ``(z, y, x)`` (or
  ``(echo, z, y, x)``); :mod:`reconstudy.io.nifti` transposes to NIfTI's ``(x, y, z)``.
* ``Geometry.affine`` maps NIfTI voxel indices ``(i, j, k) = (x, y, z)`` to RAS+ millimetres.
* ``Geometry.b0_direction`` is the unit main-field vector in the voxel frame ``(x, y, z)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Geometry:
    """Acquisition geometry of one 3D Cartesian dataset.

    Args:
        matrix: image matrix ``(nx, ny, nz)``.
        voxel_size_mm: voxel size ``(dx, dy, dz)`` in millimetres.
        affine: 4x4 voxel-to-RAS+ matrix for ``(x, y, z)`` indices.
        b0_tesla: main field strength.
        b0_direction: unit vector of B0 in the voxel frame ``(x, y, z)``.
        echo_times_ms: echo times, one per echo of the data.
    """

    matrix: tuple[int, int, int]
    voxel_size_mm: tuple[float, float, float]
    affine: np.ndarray = field(repr=False)
    b0_tesla: float = 3.0
    b0_direction: tuple[float, float, float] = (0.0, 0.0, 1.0)
    echo_times_ms: tuple[float, ...] = ()

    def __post_init__(self):
        affine = np.asarray(self.affine, dtype=np.float64)
        if affine.shape != (4, 4):
            raise ValueError(f"Geometry.affine must be 4x4, got shape {affine.shape}")
        object.__setattr__(self, "affine", affine)
        object.__setattr__(self, "matrix", tuple(int(n) for n in self.matrix))
        object.__setattr__(self, "voxel_size_mm", tuple(float(v) for v in self.voxel_size_mm))
        direction = np.asarray(self.b0_direction, dtype=np.float64)
        norm = np.linalg.norm(direction)
        if not np.isfinite(norm) or norm == 0:
            raise ValueError(f"Geometry.b0_direction must be a non-zero vector, got {self.b0_direction}")
        object.__setattr__(self, "b0_direction", tuple(float(v) for v in direction / norm))
        object.__setattr__(self, "echo_times_ms", tuple(float(t) for t in self.echo_times_ms))

    @property
    def fov_mm(self) -> tuple[float, float, float]:
        return tuple(n * d for n, d in zip(self.matrix, self.voxel_size_mm))

    @classmethod
    def centred(cls, matrix, voxel_size_mm, **kwargs) -> Geometry:
        """An axial geometry with the grid centred on the scanner origin (RAS+, no obliquity)."""
        matrix = np.asarray(matrix, dtype=float)
        voxel = np.asarray(voxel_size_mm, dtype=float)
        affine = np.diag([*voxel, 1.0])
        affine[:3, 3] = -voxel * (matrix - 1) / 2.0
        return cls(tuple(int(n) for n in matrix), tuple(voxel), affine, **kwargs)


@dataclass
class KSpace:
    """Raw multi-coil k-space plus what is needed to reconstruct it.

    Args:
        data: complex64 ``(echo, coil, kz, ky, kx)``; unacquired samples are zero.
        geometry: the acquisition geometry.
        acquisition: name of the acquisition, e.g. ``"T1w"`` or ``"mGRE"``.
        noise_covariance: ``(coil, coil)`` receiver noise covariance, if known.
        sampling_mask: boolean ``(kz, ky)`` of acquired phase-encode positions; ``None`` means
            fully sampled.
        encoding: ``"3d"`` when kz is a Fourier (partition) encoding; ``"2d"`` for multi-slice
            data, where the kz axis holds slices already in image space (fastMRI, 2D twix).
    """

    data: np.ndarray
    geometry: Geometry
    acquisition: str = "unknown"
    noise_covariance: np.ndarray | None = None
    sampling_mask: np.ndarray | None = None
    encoding: str = "3d"

    def __post_init__(self):
        if self.encoding not in ("2d", "3d"):
            raise ValueError(f"KSpace.encoding must be '2d' or '3d', got {self.encoding!r}")
        if self.data.ndim != 5:
            raise ValueError(
                f"k-space must have axes (echo, coil, kz, ky, kx); got {self.data.ndim} axes "
                f"with shape {self.data.shape}"
            )
        self.data = np.asarray(self.data, dtype=np.complex64)
        nz, ny, nx = self.data.shape[2:]
        if tuple(self.geometry.matrix) != (nx, ny, nz):
            raise ValueError(
                f"k-space shape (kz, ky, kx)={self.data.shape[2:]} does not match the geometry "
                f"matrix (nx, ny, nz)={self.geometry.matrix}"
            )
        if self.sampling_mask is None:
            self.sampling_mask = np.ones((nz, ny), dtype=bool)
        else:
            self.sampling_mask = np.asarray(self.sampling_mask, dtype=bool)
            if self.sampling_mask.shape != (nz, ny):
                raise ValueError(
                    f"sampling mask shape {self.sampling_mask.shape} does not match the (kz, ky) "
                    f"shape {(nz, ny)} of the k-space"
                )

    @property
    def n_echoes(self) -> int:
        return self.data.shape[0]

    @property
    def n_coils(self) -> int:
        return self.data.shape[1]

    @property
    def acceleration(self) -> float:
        """Achieved acceleration: phase-encode positions over acquired positions."""
        return self.sampling_mask.size / max(int(self.sampling_mask.sum()), 1)

    def undersample(self, mask: np.ndarray) -> KSpace:
        """A copy keeping only the (kz, ky) positions where ``mask`` is true.

        Raises:
            ValueError: if the mask's shape differs from the data's (kz, ky) plane, or if the
                mask asks for positions that this data never acquired.
        """
        mask = np.asarray(mask)
        if mask.shape != self.sampling_mask.shape:
            raise ValueError(
                f"mask shape {mask.shape} does not match the (kz, ky) shape {self.sampling_mask.shape} of "
                f"the {self.acquisition} k-space; make a mask of that shape"
            )
        mask = mask.astype(bool)
        never_acquired = int(np.sum(mask & ~self.sampling_mask))
        if never_acquired:
            raise ValueError(
                f"the mask samples {never_acquired} positions that were not acquired; "
                "retrospective masks must be subsets of the acquired mask"
            )
        data = self.data * mask[None, None, :, :, None]
        return KSpace(
            data, self.geometry, self.acquisition, self.noise_covariance, mask.copy(), self.encoding
        )
