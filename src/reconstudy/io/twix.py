"""Siemens twix ``.dat`` raw data (VB and VD/VE) into canonical k-space, through twixtools.

Mapping: every image scan (``twixtools`` ``is_image_scan``: no noise, phase-correction, feedback
or reference-only scans) is placed by its loop counters: ``Eco`` → echo, channel → coil,
``Par`` → kz (3D, ``encoding="3d"``) or ``Sli`` → kz (2D multi-slice, ``encoding="2d"``),
``Lin`` → ky, column → kx. Lines are shifted so the scanner's k-space centre (``CenterLin``,
``CenterPar``, ``CenterCol``) lands on index ``n // 2``; partial-Fourier and asymmetric-echo
gaps stay zero and are marked unacquired. Averages (``Ave``) are averaged.

Readout oversampling (the ``Meas.flReadoutOSFactor``, 2 on product sequences) is removed by
default: the readout is cropped to the prescribed FOV in image space. Geometry: FOV and slice
thickness from ``MeasYaps.sSliceArray.asSlice[0]``, orientation and position from the first
scan's ``SliceData`` (quaternion and position, LPS), TE list from ``MeasYaps.alTE`` (µs), B0 from
``flMagneticFieldStrength``/``flNominalB0``. Noise-adjust scans give the noise covariance.

Pulseq files (``tSequenceFileName`` ends in ``pulseq``) carry no loop counters but ``Lin``
(one per ADC) and a placeholder protocol: pass ``n_echoes`` (ADCs per phase-encode step) and
``echo_times_ms``; without ``n_echoes`` the reader assumes a square in-plane matrix
(``n_echoes = lines / readout samples``), and logs that it did.

Not supported (clear error): EPI (reflected lines, phase-correction navigators, ramp sampling),
several repetitions/sets/cardiac phases, 3D multi-slab, truncated files (no ``ACQEND``).

References:
    Ehses P. twixtools, https://github.com/pehses/twixtools.
    Layton KJ et al. Pulseq: a rapid and hardware-independent pulse sequence prototyping
    framework. Magn Reson Med 2017;77:1544-1552.
"""

from __future__ import annotations

import contextlib
import io
import logging

import numpy as np

from reconstudy.io.kspace import Geometry, KSpace
from reconstudy.io.readers import (
    affine_from_directions,
    crop_readout_oversampling,
    estimate_noise_covariance,
    require_exists,
    require_finite,
)

log = logging.getLogger("reconstudy")

EPI_FLAGS = ("REFLECT", "PHASCOR")


def _load(path):
    """twixtools.read_twix with its prints captured; every failure becomes a ValueError."""
    import twixtools

    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            scans = twixtools.read_twix(str(path), verbose=False, keep_acqend=True, parse_pmu=False)
    except Exception as err:  # twixtools raises IndexError/KeyError/... on damaged files
        raise ValueError(
            f"{path}: not a readable Siemens twix file ({type(err).__name__}: {err}); it is "
            "truncated, corrupt or another format. Re-export the raw data from the scanner."
        ) from err
    for line in printed.getvalue().splitlines():
        log.debug("%s: twixtools: %s", path, line)
    if not scans or not scans[-1].get("mdb"):
        raise ValueError(f"{path}: the twix file holds no measurement data; re-export it")
    if not any(m.is_flag_set("ACQEND") for m in scans[-1]["mdb"]):
        raise ValueError(
            f"{path}: the twix file is truncated (its last measurement has no ACQEND block); "
            "copy the complete file again"
        )
    return scans


def _header_value(hdr, *keys, default=None):
    node = hdr
    for key in keys:
        if not isinstance(node, dict) and not isinstance(node, list):
            return default
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return default
    return node


def _centred_size(counters: np.ndarray, centre: int) -> tuple[int, int]:
    """Size n with the centre at n // 2 covering all counters, and the shift to apply."""
    half = max(centre, int(counters.max()) + 1 - centre, 1)
    n = 2 * half if counters.max() > 0 else 1
    return n, n // 2 - centre


def _echo_split(path, hdr, lines, ecos, samples, os_factor, n_echoes):
    """For Pulseq (no Eco counter), split ADC lines into (line, echo); else keep counters."""
    pulseq = "pulseq" in str(_header_value(hdr, "MeasYaps", "tSequenceFileName", default="")).lower()
    if ecos.max() > 0 or (n_echoes is None and not pulseq):
        return lines, ecos, None
    if n_echoes is None:
        nx = samples // int(os_factor)
        n_lines = int(lines.max()) + 1
        if n_lines % nx:
            raise ValueError(
                f"{path}: Pulseq file with {n_lines} ADC lines of {nx} samples: cannot infer the "
                "number of echoes; pass n_echoes= (ADCs per phase-encode step)"
            )
        n_echoes = n_lines // nx
        log.warning(
            "%s: Pulseq file without echo counters; assuming a square %dx%d matrix, i.e. %d echoes "
            "per phase-encode step (pass n_echoes= to override)",
            path,
            nx,
            nx,
            n_echoes,
        )
    return lines // n_echoes, lines % n_echoes, int(lines.max() // n_echoes + 1)


def read_twix_kspace(
    path,
    *,
    remove_oversampling: bool = True,
    n_echoes: int | None = None,
    echo_times_ms=None,
) -> KSpace:
    """Read the imaging scans of a Siemens twix file into canonical k-space.

    Args:
        path: the ``.dat`` file (the last measurement of a multi-raid file is read).
        remove_oversampling: crop the 2x oversampled readout to the prescribed FOV.
        n_echoes: ADC readouts per phase-encode step, for files without echo counters (Pulseq).
        echo_times_ms: echo times overriding the header (Pulseq headers hold placeholders).

    Returns:
        ``KSpace`` with zeros where nothing was acquired.
    """
    path = require_exists(path)
    scans = _load(path)
    scan = scans[-1]
    hdr = scan["hdr"]
    noise = [m.data for s in scans for m in s["mdb"] if m.is_flag_set("NOISEADJSCAN")]
    mdbs = [m for m in scan["mdb"] if m.is_image_scan()]
    if not mdbs:
        raise ValueError(f"{path}: the twix file holds no imaging scans")
    sequence = _header_value(hdr, "MeasYaps", "tSequenceFileName", default="?")
    if any(m.is_flag_set(f) for m in scan["mdb"] for f in EPI_FLAGS):
        raise ValueError(
            f"{path}: unsupported twix data: EPI readout ({sequence}) with reflected lines and "
            "phase-correction navigators (and usually ramp sampling) has no plain Cartesian "
            "canonical mapping; reconstruct it with an EPI-aware tool and import the images"
        )
    counters = {
        name: np.array([getattr(m.mdh.Counter, name) for m in mdbs])
        for name in ("Lin", "Par", "Sli", "Eco", "Ave", "Rep", "Set", "Phs")
    }
    for name in ("Rep", "Set", "Phs"):
        if counters[name].max() > 0:
            raise ValueError(
                f"{path}: unsupported twix data: {counters[name].max() + 1} values of the {name} "
                "counter (repetitions/sets/cardiac phases); split the measurement first"
            )
    if counters["Par"].max() > 0 and counters["Sli"].max() > 0:
        raise ValueError(f"{path}: unsupported twix data: 3D multi-slab (several partitions and slices)")
    samples = {int(m.mdh.SamplesInScan) for m in mdbs}
    channels = {m.data.shape[0] for m in mdbs}
    if len(samples) != 1 or len(channels) != 1:
        raise ValueError(f"{path}: imaging scans differ in samples {samples} or channels {channels}")
    ns, nc = samples.pop(), channels.pop()
    os_factor = _header_value(hdr, "Meas", "flReadoutOSFactor")
    if os_factor is None:  # VB headers: infer from the base resolution
        base = _header_value(hdr, "MeasYaps", "sKSpace", "lBaseResolution", default=0)
        os_factor = 2.0 if base and ns == 2 * int(base) else 1.0
    os_factor = float(os_factor)
    lines, ecos, n_lines = _echo_split(path, hdr, counters["Lin"], counters["Eco"], ns, os_factor, n_echoes)
    three_d = counters["Par"].max() > 0
    zc = counters["Par"] if three_d else counters["Sli"]
    first = mdbs[0].mdh
    centre_lin = n_lines // 2 if n_lines else int(first.CenterLin)
    ny, y_shift = _centred_size(lines, centre_lin)
    nz, z_shift = _centred_size(zc, int(first.CenterPar)) if three_d else (int(zc.max()) + 1, 0)
    nsx, x_shift = _centred_size(np.array([ns - 1]), int(first.CenterCol))
    ne = int(ecos.max()) + 1
    data = np.zeros((ne, nc, nz, ny, nsx), np.complex64)
    count = np.zeros((ne, nz, ny), np.int32)
    for m, y, z, e in zip(mdbs, lines + y_shift, zc + z_shift, ecos):
        data[e, :, z, y, x_shift : x_shift + ns] += m.data
        count[e, z, y] += 1
    data /= np.maximum(count, 1)[:, None, :, :, None]
    require_finite(data, path)
    if remove_oversampling and os_factor == 2 and nsx % 2 == 0:
        data = crop_readout_oversampling(data)
        os_factor = 1.0
    mask = count.sum(axis=0) > 0
    # Position and orientation of slice 0 (2D slices may be acquired interleaved).
    geometry = _geometry(
        path, hdr, mdbs[int(np.argmin(zc))].mdh, data.shape, os_factor, three_d, echo_times_ms
    )
    name = str(_header_value(hdr, "MeasYaps", "tProtocolName", default="twix"))
    cov = estimate_noise_covariance(noise, path) if noise and noise[0].shape[0] == nc else None
    return KSpace(data, geometry, name, cov, mask, "3d" if three_d else "2d")


def _geometry(path, hdr, mdh, shape, os_factor, three_d, echo_times_ms) -> Geometry:
    from twixtools.geometry import quat_to_rotmat

    ne, _, nz, ny, nx = shape
    prot = _header_value(hdr, "MeasYaps", "sSliceArray", "asSlice", 0, default={}) or {}
    readout_fov = float(prot.get("dReadoutFOV", nx)) * os_factor
    thickness = float(prot.get("dThickness", nz))
    voxel = (
        readout_fov / nx,
        float(prot.get("dPhaseFOV", ny)) / ny,
        thickness / nz if three_d else thickness,
    )
    b0 = _header_value(hdr, "Dicom", "flMagneticFieldStrength") or _header_value(
        hdr, "MeasYaps", "sProtConsistencyInfo", "flNominalB0", default=3.0
    )
    if echo_times_ms is None:
        te_us = _header_value(hdr, "MeasYaps", "alTE", default=[]) or []
        echo_times_ms = [t / 1000.0 for t in te_us[:ne]] if len(te_us) >= ne else []
        if "pulseq" in str(_header_value(hdr, "MeasYaps", "tSequenceFileName", default="")).lower():
            log.warning("%s: Pulseq header echo times are placeholders; pass echo_times_ms=", path)
            echo_times_ms = []
    if echo_times_ms and len(echo_times_ms) != ne:
        raise ValueError(f"{path}: {ne} echoes in the data but {len(echo_times_ms)} echo times given")
    # twixtools' convention: quaternion -> columns (phase, read, slice) after flipping the first two.
    rot = quat_to_rotmat(*mdh.SliceData.Quaternion)
    rot[:, :2] *= -1
    directions = np.column_stack([rot[:, 1], rot[:, 0], rot[:, 2]])
    pos = mdh.SliceData.SlicePos
    affine, b0_dir = affine_from_directions(
        (pos.Sag, pos.Cor, pos.Tra), directions, voxel, (nx, ny, nz), "3d" if three_d else "2d"
    )
    if affine is None:
        return Geometry.centred((nx, ny, nz), voxel, b0_tesla=float(b0), echo_times_ms=echo_times_ms)
    return Geometry((nx, ny, nz), voxel, affine, float(b0), b0_dir, tuple(echo_times_ms))
