"""ISMRMRD HDF5 raw data: write canonical k-space as a proper dataset and read it back.

A written file holds ``/dataset/xml`` (an ISMRMRD header built with the schema classes of the
``ismrmrd`` package) and ``/dataset/data``: first ``ACQ_IS_NOISE_MEASUREMENT`` readouts drawn
from the coil noise covariance, then one acquisition per acquired ``(kz, ky, echo)`` readout
line with ``idx.kspace_encode_step_1 = ky``, ``idx.kspace_encode_step_2 = kz`` (3D) or
``idx.slice = z`` (2D multi-slice) and ``idx.contrast = echo``. Positions and directions are in
the ISMRMRD patient frame (LPS, mm); the exact float64 affine, B0 direction, voxel size and echo
times are kept in ``userParameters`` so a round trip restores the geometry bit for bit.

The reader also accepts ISMRMRD files from other tools (e.g. siemens_to_ismrmrd): it rebuilds the
affine from ``position``/``*_dir`` and the encoded field of view when the user parameters are
absent, removes 2x readout oversampling, and estimates the noise covariance from noise scans.

References:
    Inati SJ et al. ISMRM Raw data format: a proposed standard for MRI raw datasets. Magn Reson
    Med 2017;77:411-421.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from xml.etree import ElementTree

import h5py
import ismrmrd
import ismrmrd.xsd as mrdxsd
import numpy as np
from ismrmrd.hdf5 import acquisition_dtype, acquisition_header_dtype

from reconstudy.io.atomic import atomic_path
from reconstudy.io.kspace import Geometry, KSpace
from reconstudy.io.readers import (
    LPS_FROM_RAS,
    affine_from_directions,
    crop_readout_oversampling,
    estimate_noise_covariance,
    require_exists,
    require_finite,
)

log = logging.getLogger("reconstudy")

GYROMAGNETIC_HZ_PER_T = 42.577478518e6  # 1H, CODATA 2018
USER = "reconstudy."


@contextlib.contextmanager
def open_hdf5(path):
    """Open an HDF5 file read-only, turning h5py's errors into a message that names the file."""
    try:
        h5 = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(
            f"{path}: not a readable HDF5 file ({err}); it is truncated, still being copied, or "
            "not HDF5 at all. Re-copy or re-export it."
        ) from err
    try:
        yield h5
    finally:
        h5.close()


@dataclass
class HeaderInfo:
    """The fields of an ISMRMRD XML header that the readers use (first encoding only)."""

    encoded_matrix: tuple[int, int, int] = (0, 0, 0)
    encoded_fov: tuple[float, float, float] = (0.0, 0.0, 0.0)
    recon_matrix: tuple[int, int, int] = (0, 0, 0)
    recon_fov: tuple[float, float, float] = (0.0, 0.0, 0.0)
    limits: dict = field(default_factory=dict)
    te_ms: tuple[float, ...] = ()
    field_strength_t: float | None = None
    h1_frequency_hz: float | None = None
    protocol_name: str | None = None
    user: dict = field(default_factory=dict)

    def center(self, name: str, n: int) -> int:
        """Header centre of an encoding counter, or ``n // 2`` when the header has none."""
        limit = self.limits.get(name)
        return n // 2 if limit is None or limit[2] is None else limit[2]

    @property
    def n_slices(self) -> int:
        limit = self.limits.get("slice")
        return 1 if limit is None else limit[1] + 1


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(node, *names):
    for name in names:
        if node is None:
            return None
        node = next((c for c in node if _local(c.tag) == name), None)
    return node


def _text(node, *names, cast=str, default=None):
    node = _child(node, *names)
    if node is None or node.text is None or not node.text.strip():
        return default
    return cast(node.text.strip())


def _triple(node, cast):
    return tuple(_text(node, axis, cast=cast, default=cast(0)) for axis in "xyz")


def parse_ismrmrd_header(xml, path) -> HeaderInfo:
    """Parse the parts of an ISMRMRD header the readers need; lenient about everything else."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as err:
        raise ValueError(
            f"{path}: the ISMRMRD XML header is not valid XML ({err}); re-export the file"
        ) from err
    encoding = _child(root, "encoding")
    if encoding is None:
        raise ValueError(f"{path}: the ISMRMRD header has no <encoding> section; re-export the file")
    info = HeaderInfo(
        encoded_matrix=_triple(_child(encoding, "encodedSpace", "matrixSize"), int),
        encoded_fov=_triple(_child(encoding, "encodedSpace", "fieldOfView_mm"), float),
        recon_matrix=_triple(_child(encoding, "reconSpace", "matrixSize"), int),
        recon_fov=_triple(_child(encoding, "reconSpace", "fieldOfView_mm"), float),
        field_strength_t=_text(root, "acquisitionSystemInformation", "systemFieldStrength_T", cast=float),
        h1_frequency_hz=_text(root, "experimentalConditions", "H1resonanceFrequency_Hz", cast=float),
        protocol_name=_text(root, "measurementInformation", "protocolName"),
    )
    for limit in _child(encoding, "encodingLimits") or []:
        info.limits[_local(limit.tag)] = tuple(
            _text(limit, key, cast=lambda v: int(float(v))) for key in ("minimum", "maximum", "center")
        )
    sequence = _child(root, "sequenceParameters")
    if sequence is not None:
        info.te_ms = tuple(float(c.text) for c in sequence if _local(c.tag) == "TE" and c.text)
    for parameter in _child(root, "userParameters") or []:
        name, value = _text(parameter, "name"), _text(parameter, "value")
        if name is not None:
            info.user[name] = float(value) if _local(parameter.tag) == "userParameterDouble" else value
    return info


def _flag(bit: int) -> np.uint64:
    return np.uint64(1) << np.uint64(bit - 1)


NOISE_FLAG = _flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
LAST_IN_MEASUREMENT = _flag(ismrmrd.ACQ_LAST_IN_MEASUREMENT)


def _limit(n: int) -> mrdxsd.limitType:
    return mrdxsd.limitType(minimum=0, maximum=max(n - 1, 0), center=n // 2)


def _space(matrix, fov) -> mrdxsd.encodingSpaceType:
    return mrdxsd.encodingSpaceType(
        matrixSize=mrdxsd.matrixSizeType(x=matrix[0], y=matrix[1], z=matrix[2]),
        fieldOfView_mm=mrdxsd.fieldOfViewMm(x=fov[0], y=fov[1], z=fov[2]),
    )


def build_header(
    kspace: KSpace,
    *,
    subject_id: str | None = None,
    sequence: str | None = None,
    repetition_time_ms: float | None = None,
    flip_angle_deg: float | None = None,
) -> mrdxsd.ismrmrdHeader:
    """The ISMRMRD XML header (schema objects) describing ``kspace``."""
    geo = kspace.geometry
    nx, ny, nz = geo.matrix
    three_d = kspace.encoding == "3d"
    limits = mrdxsd.encodingLimitsType(
        kspace_encoding_step_0=_limit(nx),
        kspace_encoding_step_1=_limit(ny),
        kspace_encoding_step_2=_limit(nz if three_d else 1),
        slice=_limit(1 if three_d else nz),
        contrast=_limit(kspace.n_echoes),
    )
    encoding = mrdxsd.encodingType(
        encodedSpace=_space(geo.matrix, geo.fov_mm),
        reconSpace=_space(geo.matrix, geo.fov_mm),
        encodingLimits=limits,
        trajectory=mrdxsd.trajectoryType.CARTESIAN,
    )
    strings = {
        "affine": json.dumps(geo.affine.ravel().tolist()),
        "b0_direction": json.dumps(list(geo.b0_direction)),
        "voxel_size_mm": json.dumps(list(geo.voxel_size_mm)),
        "echo_times_ms": json.dumps(list(geo.echo_times_ms)),
        "encoding": kspace.encoding,
        "acquisition": kspace.acquisition,
    }
    user = mrdxsd.userParametersType(
        userParameterString=[
            mrdxsd.userParameterStringType(name=USER + key, value=value) for key, value in strings.items()
        ],
        userParameterDouble=[mrdxsd.userParameterDoubleType(name=USER + "b0_tesla", value=geo.b0_tesla)],
    )
    return mrdxsd.ismrmrdHeader(
        version=2,
        subjectInformation=mrdxsd.subjectInformationType(patientID=subject_id) if subject_id else None,
        measurementInformation=mrdxsd.measurementInformationType(
            patientPosition=mrdxsd.patientPositionType.HFS,
            protocolName=kspace.acquisition,
            sequenceName=sequence,
        ),
        acquisitionSystemInformation=mrdxsd.acquisitionSystemInformationType(
            systemFieldStrength_T=geo.b0_tesla, receiverChannels=kspace.n_coils
        ),
        experimentalConditions=mrdxsd.experimentalConditionsType(
            H1resonanceFrequency_Hz=int(round(GYROMAGNETIC_HZ_PER_T * geo.b0_tesla))
        ),
        encoding=[encoding],
        sequenceParameters=mrdxsd.sequenceParametersType(
            TE=list(geo.echo_times_ms),
            TR=[] if repetition_time_ms is None else [float(repetition_time_ms)],
            flipAngle_deg=[] if flip_angle_deg is None else [float(flip_angle_deg)],
            sequence_type=sequence,
        ),
        userParameters=user,
    )


def _directions(affine: np.ndarray) -> np.ndarray:
    """Unit voxel-axis directions (columns x, y, z) in the LPS patient frame."""
    m = np.asarray(affine, float)[:3, :3]
    return LPS_FROM_RAS @ (m / np.linalg.norm(m, axis=0))


def _line_headers(kspace: KSpace, lines: np.ndarray, n_noise: int) -> np.ndarray:
    """Acquisition headers for the image lines ``lines`` = rows of (z, y, echo)."""
    geo = kspace.geometry
    nx, ny, nz = geo.matrix
    nc = kspace.n_coils
    heads = np.zeros(len(lines), dtype=acquisition_header_dtype)
    heads["version"] = 1
    heads["scan_counter"] = np.arange(n_noise, n_noise + len(lines))
    heads["number_of_samples"] = nx
    heads["available_channels"] = nc
    heads["active_channels"] = nc
    heads["center_sample"] = nx // 2
    heads["sample_time_us"] = 5.0
    for c in range(nc):  # one bit per active channel, 64 channels per word
        heads["channel_mask"][:, c // 64] |= np.uint64(1) << np.uint64(c % 64)
    dirs = _directions(geo.affine)
    heads["read_dir"], heads["phase_dir"], heads["slice_dir"] = dirs[:, 0], dirs[:, 1], dirs[:, 2]
    z, y, echo = lines.T
    centre = np.stack([np.full(len(lines), (nx - 1) / 2), np.full(len(lines), (ny - 1) / 2)], axis=1)
    # 3D: the position is the centre of the slab; 2D: the centre of each slice.
    zc = np.full(len(lines), (nz - 1) / 2) if kspace.encoding == "3d" else z.astype(float)
    voxel = np.column_stack([centre, zc, np.ones(len(lines))])
    heads["position"] = (LPS_FROM_RAS @ (geo.affine @ voxel.T)[:3]).T
    idx = heads["idx"]
    idx["kspace_encode_step_1"] = y
    if kspace.encoding == "3d":
        idx["kspace_encode_step_2"] = z
    else:
        idx["slice"] = z
    idx["contrast"] = echo
    heads["idx"] = idx
    if len(lines):
        heads["flags"][-1] |= LAST_IN_MEASUREMENT
    return heads


def _noise_records(kspace: KSpace, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Noise-scan records drawn from CN(0, noise_covariance), 256 samples per scan."""
    cov = kspace.noise_covariance
    if cov is None or n_samples <= 0:
        return np.zeros(0, dtype=acquisition_dtype)
    nc = kspace.n_coils
    try:
        chol = np.linalg.cholesky(np.asarray(cov, np.complex128) + 1e-12 * np.eye(nc) * np.trace(cov).real)
    except np.linalg.LinAlgError as err:
        raise ValueError(
            f"noise_covariance of the {kspace.acquisition} k-space is not Hermitian positive definite "
            f"({err}); fix the simulation or estimate it from noise scans"
        ) from err
    per_scan = 256
    n_scans = -(-n_samples // per_scan)
    records = np.zeros(n_scans, dtype=acquisition_dtype)
    heads = records["head"]
    heads["version"] = 1
    heads["flags"] = NOISE_FLAG
    heads["scan_counter"] = np.arange(n_scans)
    heads["number_of_samples"] = per_scan
    heads["available_channels"] = nc
    heads["active_channels"] = nc
    heads["sample_time_us"] = 5.0
    records["head"] = heads
    for i in range(n_scans):
        white = (rng.standard_normal((nc, per_scan)) + 1j * rng.standard_normal((nc, per_scan))) / np.sqrt(2)
        records["data"][i] = (chol @ white).astype(np.complex64).view(np.float32).ravel()
        records["traj"][i] = np.zeros(0, np.float32)
    return records


def write_ismrmrd(
    path,
    kspace: KSpace,
    *,
    subject_id: str | None = None,
    sequence: str | None = None,
    repetition_time_ms: float | None = None,
    flip_angle_deg: float | None = None,
    noise_samples: int = 1024,
    rng: np.random.Generator | None = None,
):
    """Write ``kspace`` as an ISMRMRD HDF5 dataset at ``path``, atomically.

    Only acquired lines (``kspace.sampling_mask``) are stored, one acquisition per
    ``(kz, ky, echo)`` line. When ``kspace.noise_covariance`` is set, ``noise_samples`` samples per
    coil are drawn from CN(0, Σ) with ``rng`` (default seed 0) and stored as noise scans, so the
    reader estimates Σ as it would from a scanner's noise prescan (sampling error ~ 1/√N).

    Args:
        path: output ``.h5`` file.
        kspace: canonical k-space.
        subject_id: stored as ``subjectInformation/patientID``.
        sequence: sequence name (``measurementInformation/sequenceName``).
        repetition_time_ms: TR for ``sequenceParameters``.
        flip_angle_deg: flip angle for ``sequenceParameters``.
        noise_samples: noise samples per coil (rounded up to whole 256-sample scans).
        rng: generator for the noise samples.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    require_finite(kspace.data, path, "k-space to write", "fix the step that produced it; nothing written")
    header = build_header(
        kspace,
        subject_id=subject_id,
        sequence=sequence,
        repetition_time_ms=repetition_time_ms,
        flip_angle_deg=flip_angle_deg,
    )
    noise = _noise_records(kspace, noise_samples, rng)
    kz, ky = np.nonzero(kspace.sampling_mask)
    ne = kspace.n_echoes
    lines = np.column_stack([np.repeat(kz, ne), np.repeat(ky, ne), np.tile(np.arange(ne), len(kz))])
    records = np.zeros(len(lines), dtype=acquisition_dtype)
    records["head"] = _line_headers(kspace, lines, len(noise))
    # (echo, coil, kz, ky, kx) -> (kz, ky, echo, coil, kx): each readout is then contiguous.
    ordered = np.ascontiguousarray(kspace.data.transpose(2, 3, 0, 1, 4)).view(np.float32)
    empty = np.zeros(0, np.float32)
    for i, (z, y, e) in enumerate(lines):
        records["data"][i] = ordered[z, y, e].ravel()
        records["traj"][i] = empty
    xml = mrdxsd.ToXML(header)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            group = h5.create_group("dataset")
            group.create_dataset("xml", data=[xml.encode()], dtype=h5py.special_dtype(vlen=bytes))
            group.create_dataset("data", data=np.concatenate([noise, records]), maxshape=(None,))
    return path


def _geometry(info: HeaderInfo, matrix, heads, encoding: str, path) -> Geometry:
    """Geometry from the exact user parameters, else rebuilt from header and scan positions."""
    user = info.user
    b0 = float(user.get(USER + "b0_tesla", info.field_strength_t or 0.0))
    if not b0 and info.h1_frequency_hz:
        b0 = info.h1_frequency_hz / GYROMAGNETIC_HZ_PER_T
    b0 = b0 or 3.0
    key = USER + "echo_times_ms"
    echo_times = tuple(json.loads(user[key]) if key in user else info.te_ms)
    if USER + "affine" in user:
        return Geometry(
            matrix,
            tuple(json.loads(user[USER + "voxel_size_mm"])),
            np.reshape(json.loads(user[USER + "affine"]), (4, 4)),
            b0_tesla=b0,
            b0_direction=tuple(json.loads(user[USER + "b0_direction"])),
            echo_times_ms=echo_times,
        )
    fov, enc = info.encoded_fov, info.encoded_matrix
    voxel = [f / n if n and f else 1.0 for f, n in zip(fov, enc)]
    if encoding == "2d":
        voxel[2] = fov[2] or 1.0  # per-slice FOV is the slice thickness
    if info.recon_matrix[0] and matrix[0] == info.recon_matrix[0]:
        voxel[0] = info.recon_fov[0] / info.recon_matrix[0]
    first = heads[np.argmin(heads["idx"]["slice"])] if encoding == "2d" else heads[0]
    directions = np.column_stack([first["read_dir"], first["phase_dir"], first["slice_dir"]])
    affine, b0_dir = affine_from_directions(first["position"], directions, voxel, matrix, encoding)
    if affine is None:
        log.warning("%s: no scan orientation stored; assuming an axial grid centred at the origin", path)
        return Geometry.centred(matrix, voxel, b0_tesla=b0, echo_times_ms=echo_times)
    return Geometry(matrix, tuple(voxel), affine, b0, b0_dir, echo_times)


def read_ismrmrd(path, *, remove_oversampling: bool = True) -> KSpace:
    """Read an ISMRMRD HDF5 dataset into canonical k-space.

    Args:
        path: the ``.h5`` file (group ``dataset``).
        remove_oversampling: crop a 2x oversampled readout (encoded x = 2 x recon x) to the
            recon field of view; files written by :func:`write_ismrmrd` are never oversampled.

    Returns:
        ``KSpace`` with zeros where nothing was acquired, the sampling mask of acquired
        ``(kz, ky)`` lines, the geometry, and the noise covariance estimated from the noise
        scans (``None`` without noise scans).
    """
    path = require_exists(path)
    with open_hdf5(path) as h5:
        if "dataset" not in h5 or "xml" not in h5["dataset"] or "data" not in h5["dataset"]:
            raise ValueError(
                f"{path}: not an ISMRMRD dataset (needs the HDF5 datasets 'dataset/xml' and "
                f"'dataset/data'; found {sorted(h5.keys())}). Convert it with `reconstudy convert`."
            )
        xml = h5["dataset/xml"][0]
        try:
            records = h5["dataset/data"][()]
        except (OSError, RuntimeError) as err:
            raise ValueError(f"{path}: acquisitions cannot be read ({err}); the file is damaged") from err
    info = parse_ismrmrd_header(xml, path)
    heads = records["head"]
    noise = (heads["flags"] & NOISE_FLAG) != 0
    if not (~noise).any():
        raise ValueError(f"{path}: the ISMRMRD file has no imaging acquisitions, only noise scans")
    noise_cov = estimate_noise_covariance([_samples(r) for r in records[noise]], path)
    image = records[~noise]
    image = image[_skip_non_imaging(image["head"]["flags"])]
    heads = image["head"]
    nc = int(heads["active_channels"].max())
    encoding = info.user.get(USER + "encoding")
    idx = heads["idx"]
    if encoding is None:
        encoding = "2d" if idx["slice"].max() > 0 and idx["kspace_encode_step_2"].max() == 0 else "3d"
    zidx = idx["kspace_encode_step_2"] if encoding == "3d" else idx["slice"]
    ne = int(idx["contrast"].max()) + 1
    ny = max(info.encoded_matrix[1], int(idx["kspace_encode_step_1"].max()) + 1)
    nz = max(info.encoded_matrix[2] if encoding == "3d" else info.n_slices, int(zidx.max()) + 1)
    # Shift lines so the k-space centre of the header lands on index n // 2 (our FFT convention).
    y = idx["kspace_encode_step_1"].astype(int) + ny // 2 - info.center("kspace_encoding_step_1", ny)
    z = zidx.astype(int) + (nz // 2 - info.center("kspace_encoding_step_2", nz) if encoding == "3d" else 0)
    for counter in ("repetition", "set", "phase"):
        if idx[counter].max() > 0:
            raise ValueError(
                f"{path}: unsupported ISMRMRD data: {idx[counter].max() + 1} values of idx.{counter}; "
                "split the dataset so that each file holds one repetition/set/phase"
            )
    # Asymmetric echoes: pad the readout so each line's centre sample lands on index ns // 2.
    centre = heads["center_sample"].astype(int)
    n_samples = heads["number_of_samples"].astype(int)
    ns = int(2 * np.maximum(centre, n_samples - centre).max())
    x0 = ns // 2 - centre
    if (y < 0).any() or (y >= ny).any() or (z < 0).any() or (z >= nz).any():
        raise ValueError(f"{path}: encoding counters fall outside the encoded matrix {info.encoded_matrix}")
    data = np.zeros((ne, nc, nz, ny, ns), np.complex64)
    count = np.zeros((ne, nz, ny), np.int32)
    echo = idx["contrast"].astype(int)
    for i, record in enumerate(image):
        line = _samples(record)
        if line.shape[0] != nc:
            raise ValueError(f"{path}: acquisition {i} has {line.shape[0]} channels, expected {nc}")
        data[echo[i], :, z[i], y[i], x0[i] : x0[i] + line.shape[1]] += line
        count[echo[i], z[i], y[i]] += 1
    if count.max() > 1:  # repeated lines are averages
        data /= np.maximum(count, 1)[:, None, :, :, None]
    require_finite(data, path)
    if remove_oversampling and info.recon_matrix[0] and ns == 2 * info.recon_matrix[0]:
        data = crop_readout_oversampling(data)
    mask = np.zeros((nz, ny), bool)
    mask[z, y] = True
    geometry = _geometry(info, (data.shape[4], ny, nz), heads, encoding, path)
    acquisition = info.user.get(USER + "acquisition") or info.protocol_name or "unknown"
    return KSpace(data, geometry, acquisition, noise_cov, mask, encoding)


def _skip_non_imaging(flags: np.ndarray) -> np.ndarray:
    """Keep imaging lines: drop navigators, phase-correction, calibration-only, dummy scans."""
    drop = np.uint64(0)
    for bit in (
        ismrmrd.ACQ_IS_NAVIGATION_DATA,
        ismrmrd.ACQ_IS_PHASECORR_DATA,
        ismrmrd.ACQ_IS_PARALLEL_CALIBRATION,
        ismrmrd.ACQ_IS_DUMMYSCAN_DATA,
        ismrmrd.ACQ_IS_RTFEEDBACK_DATA,
        ismrmrd.ACQ_IS_HPFEEDBACK_DATA,
    ):
        drop |= _flag(bit)
    return (flags & drop) == 0


def _samples(record) -> np.ndarray:
    """(channels, samples) complex64 of one stored acquisition record."""
    head = record["head"]
    return (
        record["data"]
        .view(np.complex64)
        .reshape(int(head["active_channels"]), int(head["number_of_samples"]))
    )
