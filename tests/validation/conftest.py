"""Fixtures shared by the validation tests: small in-silico cohorts, generated once per session.

Treat them as read-only; a test that tampers with files copies the directory
first (``shutil.copytree``). Seeds are >= 2000 (test cohorts; training uses < 1000).
"""

from __future__ import annotations

import pytest

SYNTH_SEED = 2024
SYNTH_PATIENTS = 12


@pytest.fixture(scope="session")
def synth_cohort_args():
    """The ``generate_cohort`` keyword arguments of :func:`synth_cohort_dir` (to regenerate it)."""
    return {"n_patients": SYNTH_PATIENTS, "seed": SYNTH_SEED, "cohort_id": "synth-test", "version": 1,
            "fmt": "dicom"}


@pytest.fixture(scope="session")
def synth_cohort_dir(tmp_path_factory, synth_cohort_args):
    """A registered DICOM cohort: 12 patients (1-3 images each), seed 2024, id 'synth-test' v1."""
    from validation.synth import generate_cohort

    return generate_cohort(tmp_path_factory.mktemp("synth-dicom") / "cohort", **synth_cohort_args)


@pytest.fixture(scope="session")
def synth_cohort_npy_dir(tmp_path_factory):
    """The same patients as :func:`synth_cohort_dir`, written as NPY images and masks."""
    from validation.synth import generate_cohort

    return generate_cohort(tmp_path_factory.mktemp("synth-npy") / "cohort", n_patients=SYNTH_PATIENTS,
                           seed=SYNTH_SEED, cohort_id="synth-test-npy", version=1, fmt="npy")


@pytest.fixture(scope="session")
def synth_cohort(synth_cohort_dir):
    """:func:`synth_cohort_dir` loaded (verified) as a :class:`validation.cohorts.Cohort`."""
    from validation.cohorts import load_cohort

    return load_cohort(synth_cohort_dir, verify=True)
