"""BART ``.cfl``/``.hdr`` arrays and BART k-space in canonical form.

A BART array ``base`` is two files: ``base.hdr``, text with a ``# Dimensions`` line followed by
the dimension sizes, and ``base.cfl``, the raw complex64 samples in column-major (Fortran)
order. BART's k-space dimensions are READ=0, PHS1=1, PHS2=2, COIL=3, MAPS=4, TE=5 (further
dimensions such as COEFF, TIME and SLICE must be singleton here).

Mapping to canonical ``(echo, coil, kz, ky, kx)``: ``data[e, c, z, y, x] = bart[x, y, z, c, 0, e]``.
A BART file carries no geometry: voxel size defaults to 1 mm isotropic on a centred axial grid,
B0 to 3 T, and echo times to none, unless given.

References:
    Uecker M et al. Berkeley Advanced Reconstruction Toolbox. Proc. ISMRM 2015;23:2486.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reconstudy.io.atomic import atomic_path
from reconstudy.io.kspace import Geometry, KSpace
from reconstudy.io.readers import require_finite

READ, PHS1, PHS2, COIL, MAPS, TE = range(6)


def _base(path) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".cfl", ".hdr") else path


def _with(base: Path, suffix: str) -> Path:
    return base.with_name(base.name + suffix)


def read_cfl_dims(base) -> tuple[int, ...]:
    """Dimensions from ``base.hdr`` (trailing singletons kept as written)."""
    header = _with(_base(base), ".hdr")
    if not header.exists():
        raise FileNotFoundError(
            f"{header}: BART header missing; a BART array needs both {header.name} and "
            f"{header.with_suffix('.cfl').name} (copy the .hdr next to the .cfl)"
        )
    lines = header.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        if line.strip().lower().startswith("# dimensions") and i + 1 < len(lines):
            try:
                dims = tuple(int(v) for v in lines[i + 1].split())
            except ValueError:
                break
            if dims and all(d > 0 for d in dims):
                return dims
            break
    raise ValueError(
        f"{header}: no valid '# Dimensions' line followed by positive sizes; rewrite the header "
        "(e.g. with `bart copy` or reconstudy.io.cfl.write_cfl)"
    )


def read_cfl(base) -> np.ndarray:
    """Read a BART array as complex64 with BART's dimension order (Fortran layout)."""
    base = _base(base)
    dims = read_cfl_dims(base)
    samples = _with(base, ".cfl")
    if not samples.exists():
        raise FileNotFoundError(f"{samples}: BART data file missing next to its header {base.name}.hdr")
    expected = int(np.prod(dims)) * 8
    size = samples.stat().st_size
    if size != expected:
        raise ValueError(
            f"{samples}: holds {size} bytes but its header says dims {dims} = {expected} bytes of "
            "complex64; the file is truncated or the header belongs to another array. Re-copy both files."
        )
    data = np.fromfile(samples, dtype=np.complex64)
    return data.reshape(dims, order="F")


def write_cfl(base, array: np.ndarray):
    """Write ``array`` as BART ``base.hdr`` + ``base.cfl`` (complex64, Fortran order), atomically."""
    base = _base(base)
    array = np.asarray(array, dtype=np.complex64)
    dims = list(array.shape) + [1] * max(0, 16 - array.ndim)
    with atomic_path(_with(base, ".cfl")) as tmp_cfl, atomic_path(_with(base, ".hdr")) as tmp_hdr:
        array.ravel(order="F").tofile(tmp_cfl)
        tmp_hdr.write_text("# Dimensions\n" + " ".join(str(d) for d in dims) + "\n")
    return base


def read_bart_kspace(
    path,
    *,
    voxel_size_mm=(1.0, 1.0, 1.0),
    affine: np.ndarray | None = None,
    b0_tesla: float = 3.0,
    echo_times_ms=(),
    acquisition: str = "unknown",
    encoding: str = "3d",
) -> KSpace:
    """Read BART k-space (READ, PHS1, PHS2, COIL, MAPS, TE) into canonical form.

    Args:
        path: the base name, or either file of the pair.
        voxel_size_mm: ``(dx, dy, dz)``; BART stores no geometry.
        affine: voxel-to-RAS affine; default an axial grid centred on the origin.
        b0_tesla: field strength.
        echo_times_ms: echo times, one per TE entry, or empty.
        acquisition: name stored in the result.
        encoding: ``"3d"`` (PHS2 is a Fourier encoding) or ``"2d"`` (PHS2 holds slices).

    Returns:
        ``KSpace`` whose sampling mask marks the (kz, ky) lines with any non-zero sample.
    """
    base = _base(path)
    bart = read_cfl(base)
    if bart.ndim > MAPS + 1 and bart.shape[MAPS] != 1:
        raise ValueError(f"{base}: MAPS dimension is {bart.shape[MAPS]}; k-space must have one map")
    extra = [d for i, d in enumerate(bart.shape) if i > TE and d != 1]
    if extra:
        raise ValueError(
            f"{base}: dims {bart.shape} use BART dimensions beyond TE (5); only READ, PHS1, PHS2, "
            "COIL and TE are supported. Slice or average them with `bart slice`/`bart avg` first."
        )
    shape6 = tuple(bart.shape[:6]) + (1,) * max(0, 6 - bart.ndim)
    bart = bart.reshape(shape6, order="F")  # drop/add trailing singleton dimensions
    data = np.ascontiguousarray(bart[:, :, :, :, 0, :].transpose(4, 3, 2, 1, 0))
    require_finite(data, base)
    nx, ny, nz = shape6[READ], shape6[PHS1], shape6[PHS2]
    echo_times_ms = tuple(echo_times_ms)
    if echo_times_ms and len(echo_times_ms) != data.shape[0]:
        raise ValueError(
            f"{base}: {data.shape[0]} echoes in the data but {len(echo_times_ms)} echo times given"
        )
    if affine is None:
        geometry = Geometry.centred(
            (nx, ny, nz), voxel_size_mm, b0_tesla=b0_tesla, echo_times_ms=echo_times_ms
        )
    else:
        geometry = Geometry(
            (nx, ny, nz), voxel_size_mm, affine, b0_tesla=b0_tesla, echo_times_ms=echo_times_ms
        )
    mask = np.abs(data).sum(axis=(0, 1, 4)) > 0
    return KSpace(data, geometry, acquisition, None, mask, encoding)


def write_bart_kspace(base, kspace: KSpace):
    """Write canonical k-space as BART (READ, PHS1, PHS2, COIL, MAPS=1, TE)."""
    return write_cfl(base, kspace.data.transpose(4, 3, 2, 1, 0)[:, :, :, :, None, :])
