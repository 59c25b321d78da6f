"""The simulated cohort has the properties it claims: anatomy, group effects, tissue, signals, noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reconstudy.fourier import ifftc
from reconstudy.io.nifti import load_image
from reconstudy.phantom import PhantomConfig, load_tissue_table, simulate_subject, write_truth
from reconstudy.phantom.anatomy import load_label_map
from reconstudy.phantom.effects import ATROPHY, BASELINE, LATERAL_VENTRICLES, WHITE_MATTER

SMALL = {"matrix": [40, 48, 40], "voxel_size_mm": [4.5, 4.5, 4.5]}
SEED = 7


@pytest.fixture(scope="module")
def config():
    return PhantomConfig.from_dict(SMALL)


@pytest.fixture(scope="module")
def cohort(config):
    return {group: simulate_subject("s1", group, 1, config, SEED) for group in ("control", "impaired", "ms")}


@pytest.fixture(scope="module")
def table(config):
    return load_tissue_table(config.resource("tissue_properties.tsv"))


def _count(labels, values):
    return int(np.isin(labels, values).sum())


def test_shapes_and_types(cohort, config):
    subject = cohort["control"]
    nx, ny, nz = config.matrix
    assert subject.kspace["T1w"].data.shape == (1, 8, nz, ny, nx)
    assert subject.kspace["mGRE"].data.shape == (4, 8, nz, ny, nx)
    assert subject.kspace["mGRE"].geometry.echo_times_ms == config.mgre.echo_times_ms
    assert subject.kspace["mGRE"].noise_covariance.shape == (8, 8)
    truth = subject.truth
    assert truth["labels"].dtype == np.int16 and truth["labels"].shape == (nz, ny, nx)
    assert truth["brain_mask"].dtype == np.uint8
    assert truth["chi"].dtype == np.float32
    assert truth["mGRE_magnitude"].shape == (4, nz, ny, nx)
    assert subject.info["group"] == "control" and subject.info["anatomy"] == 1
    assert 0.95 <= subject.info["scaling"] <= 1.05


def test_world_orientation(cohort):
    """Left labels at x < 0, eyes anterior, cerebellum behind the brainstem and below the cortex (RAS+).

    (The source heads are pitched forward, so the cerebellum lies mostly below the cerebrum.)
    """
    subject = cohort["control"]
    labels, affine = subject.truth["labels"], subject.geometry.affine

    def centroid(values):
        zyx = np.argwhere(np.isin(labels, values)).mean(axis=0)
        return affine[:3, :3] @ zyx[::-1] + affine[:3, 3]

    assert centroid([2, 3])[0] < -20 and centroid([41, 42])[0] > 20
    assert centroid([506])[1] > 40  # eyes in front
    cerebellum, cortex, brainstem = centroid([8, 47]), centroid([3, 42]), centroid([16])
    assert cerebellum[1] < brainstem[1] - 10 and cerebellum[2] < cortex[2] - 40
    # Cerebrum and cerebellum fit in the field of view (the CSF/brainstem column of the neck may not).
    brain = np.isin(labels, [2, 3, 7, 8, 41, 42, 46, 47])
    assert not brain[[0, -1]].any() and not brain[:, [0, -1]].any() and not brain[:, :, [0, -1]].any()


def test_impaired_atrophy_and_ventricles(cohort):
    control, impaired = cohort["control"].truth["labels"], cohort["impaired"].truth["labels"]
    for label in ATROPHY:
        assert _count(impaired, [label]) <= 0.87 * _count(control, [label])
    assert _count(impaired, list(LATERAL_VENTRICLES)) >= 1.15 * _count(control, list(LATERAL_VENTRICLES))
    # Nothing changes outside the brain and the two subjects share their deformation.
    outside = ~cohort["control"].truth["brain_mask"].astype(bool)
    np.testing.assert_array_equal(control[outside], impaired[outside])


def test_controls_share_a_normative_baseline(cohort, config):
    """Hippocampus, amygdala and ventricles are set to normative fractions of the intracranial volume."""
    controls = [cohort["control"]] + [simulate_subject(f"b{a}", "control", a, config, SEED) for a in (2, 3)]
    for subject in controls:
        labels = subject.truth["labels"]
        icv = subject.truth["brain_mask"].sum()
        for label, fraction in BASELINE.items():
            assert _count(labels, [label]) / icv == pytest.approx(fraction, rel=0.1), label


def test_ms_lesions(cohort, config):
    ms = cohort["ms"]
    table, lesion_map = ms.lesions, ms.truth["lesions"]
    low, high = config.n_lesions
    assert low <= len(table) <= high
    assert set(np.unique(lesion_map[lesion_map > 0])) == set(table["lesion_id"])
    assert set(table["kind"]) <= {"prl", "hyper", "iso"} and "prl" in set(table["kind"])
    assert np.isin(ms.truth["labels"][lesion_map > 0], WHITE_MATTER).all()
    assert table["rim_chi_ppm"].notna().eq(table["kind"] == "prl").all()
    prl = table[table["kind"] == "prl"]
    assert (prl["rim_chi_ppm"] > prl["core_chi_ppm"] + 0.05).all()
    chi = ms.truth["chi"]
    for row in table.itertuples():
        inside = chi[lesion_map == row.lesion_id]
        expected = {row.core_chi_ppm} | ({row.rim_chi_ppm} if row.kind == "prl" else set())
        assert set(np.round(np.unique(inside), 5)) <= set(np.round(np.float32(list(expected)), 5))
    for group in ("control", "impaired"):
        assert len(cohort[group].lesions) == 0 and not cohort[group].truth["lesions"].any()


def test_chi_per_tissue_matches_table_within_jitter(cohort, table, config):
    subject = cohort["control"]
    labels, chi, brain = subject.truth["labels"], subject.truth["chi"], subject.truth["brain_mask"] > 0
    bound = config.jitter["chi_ppm"] + 1e-6
    checked = 0
    for label in np.unique(labels[brain]):
        values = chi[brain & (labels == label)]
        assert np.ptp(values) < 1e-6, f"label {label} is not uniform"
        reference = table.loc[label, "chi_ppm"]
        assert abs(values[0] - reference) <= bound, f"label {label}: {values[0]} vs {reference}"
        if table.loc[label, "compartment"] == "csf":
            assert values[0] == 0.0  # CSF is the reference
        checked += 1
    assert checked >= 20
    assert not chi[~brain].any()


def test_tissue_table_covers_every_label_of_every_map(table, config):
    for anatomy in (1, 2, 3):
        labels, _, _ = load_label_map(str(config.resource("anatomy") / f"training_seg_{anatomy:02d}.nii.gz"))
        missing = set(np.unique(labels).tolist()) - set(table.index)
        assert not missing, f"anatomy {anatomy}: labels {missing} missing from the tissue table"


def test_field_local_is_dipole_of_chi_and_phase_follows_field():
    """Noise-free data: the coil-combined phase at each TE is phi0 + 2 pi gamma B0 delta TE."""
    from reconstudy.dipole import dipole_field, ppm_to_radians

    config = PhantomConfig.from_dict({**SMALL, "noise_level": 0.0, "b0_direction": [0.2, 0.1, 1.0]})
    subject = simulate_subject("s2", "ms", 2, config, SEED)
    truth = subject.truth
    expected = dipole_field(truth["chi"], config.voxel_size_mm, config.b0_direction)
    np.testing.assert_allclose(truth["field_local"], expected, atol=1e-6)
    coil_maps = subject.coil_maps
    signal = truth["mGRE_magnitude"][0] > 0.05 * truth["mGRE_magnitude"][0].max()
    for e, te in enumerate(config.mgre.echo_times_ms):
        combined = np.sum(coil_maps.conj() * ifftc(subject.kspace["mGRE"].data[e]), axis=0)
        np.testing.assert_allclose(
            np.abs(combined), truth["mGRE_magnitude"][e], atol=1e-4 * combined.__abs__().max()
        )
        residual = combined * np.exp(
            -1j * (truth["mGRE_phase0"] + ppm_to_radians(truth["field_total"], te, 3.0))
        )
        assert np.abs(np.angle(residual[signal])).max() < 1e-3
    t1w = np.sum(coil_maps.conj() * ifftc(subject.kspace["T1w"].data[0]), axis=0)
    np.testing.assert_allclose(np.abs(t1w), truth["T1w"], atol=1e-4 * truth["T1w"].max())


def test_coil_maps_normalised_and_distinct(cohort):
    maps = cohort["control"].coil_maps
    np.testing.assert_allclose(np.sum(np.abs(maps) ** 2, axis=0), 1.0, atol=1e-5)
    peaks = [np.unravel_index(np.argmax(np.abs(m)), m.shape) for m in maps]
    assert len(set(peaks)) == len(maps)  # every coil sees a different region


def test_noise_covariance_recovered(config):
    """Noisy minus noise-free k-space of the same subject is noise with the stated covariance."""
    noisy = simulate_subject(
        "s3", "control", 3, PhantomConfig.from_dict({**SMALL, "noise_level": 0.05}), SEED
    )
    clean = simulate_subject("s3", "control", 3, PhantomConfig.from_dict({**SMALL, "noise_level": 0.0}), SEED)
    cov = noisy.kspace["mGRE"].noise_covariance
    assert np.allclose(cov, cov.conj().T) and np.linalg.eigvalsh(cov).min() > 0
    noise = (noisy.kspace["mGRE"].data - clean.kspace["mGRE"].data).transpose(1, 0, 2, 3, 4).reshape(8, -1)
    sample = noise @ noise.conj().T / noise.shape[1]
    np.testing.assert_allclose(sample, cov, atol=0.02 * np.abs(np.diag(cov)).mean())
    off = ~np.eye(8, dtype=bool)
    corr = np.abs(cov / np.sqrt(np.outer(np.diag(cov).real, np.diag(cov).real)))[off].mean()
    assert corr == pytest.approx(config.coil_correlation, abs=0.02)
    p95 = np.percentile(clean.truth["mGRE_magnitude"][0], 95)
    assert np.real(np.trace(cov)) / 8 == pytest.approx((0.05 * p95) ** 2, rel=1e-3)


def test_deterministic_with_seed_and_different_across_seeds(cohort, config):
    again = simulate_subject("s1", "ms", 1, config, SEED)
    first = cohort["ms"]
    np.testing.assert_array_equal(again.kspace["mGRE"].data, first.kspace["mGRE"].data)
    np.testing.assert_array_equal(again.truth["labels"], first.truth["labels"])
    pd.testing.assert_frame_equal(again.lesions, first.lesions)
    other = simulate_subject("s1", "ms", 1, config, SEED + 1)
    assert not np.array_equal(other.truth["labels"], first.truth["labels"])
    assert not np.array_equal(other.truth["chi"], first.truth["chi"])


def test_other_grid_and_anisotropic_voxels():
    config = PhantomConfig.from_dict(
        {"matrix": [36, 44, 30], "voxel_size_mm": [5.0, 5.0, 6.0], "n_coils": 12}
    )
    subject = simulate_subject("s4", "impaired", 3, config, SEED)
    assert subject.kspace["T1w"].data.shape == (1, 12, 30, 44, 36)
    assert subject.truth["brain_mask"].sum() * 150.0 == pytest.approx(1.5e6, rel=0.35)  # ~1.5 l intracranial


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"n_coils": 4}, "n_coils"),
        ({"voxel_size_mm": [0, 2.5, 2.5]}, "voxel_size_mm"),
        ({"matrix": [72, 88]}, "matrix"),
        ({"noise_level": -0.1}, "noise_level"),
        ({"mgre": {"echo_times_ms": [10, 5]}}, "mgre.echo_times_ms"),
        ({"mgre": {"echo_times_ms": [5, 10], "tr_ms": 8}}, "mgre.tr_ms"),
        ({"t1w": {"sequence": "flash"}}, "t1w.sequence"),
        ({"t1w": {"bogus": 1}}, "bogus"),
        ({"coil_count": 8}, "coil_count"),
        ({"jitter": {"t1": 0.9}}, "jitter"),
    ],
)
def test_config_errors_name_the_field(change, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        PhantomConfig.from_dict(change)


def test_bad_group_anatomy_and_seed(config):
    with pytest.raises(ValueError, match="group"):
        simulate_subject("x", "patient", 1, config, 1)
    with pytest.raises(ValueError, match="anatomy"):
        simulate_subject("x", "control", 4, config, 1)
    with pytest.raises(ValueError, match="seed"):
        simulate_subject("x", "control", 1, config, -1)


def test_write_truth_round_trip(cohort, tmp_path):
    subject = cohort["ms"]
    paths = write_truth(subject, tmp_path, "sub-s1")
    assert paths["labels"].name == "sub-s1_desc-truth_dseg.nii.gz"
    assert paths["chi"].name == "sub-s1_desc-truth_Chimap.nii.gz"
    assert paths["brain_mask"].name == "sub-s1_desc-brain_mask.nii.gz"
    assert paths["T1w"].name == "sub-s1_desc-truth_T1w.nii.gz"
    labels, affine = load_image(paths["labels"])
    np.testing.assert_array_equal(labels, subject.truth["labels"])
    np.testing.assert_allclose(affine, subject.geometry.affine)
    chi, _ = load_image(paths["chi"])
    np.testing.assert_allclose(chi, subject.truth["chi"])
    magnitude, _ = load_image(paths["mGRE_magnitude"])
    assert magnitude.shape == subject.truth["mGRE_magnitude"].shape
    lesions = pd.read_csv(paths["lesions_table"], sep="\t", na_values="n/a")
    assert len(lesions) == len(subject.lesions)
    assert paths["lesions_sidecar"].exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left
