# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_d3gm.apps.reconstruction import MRIInputError
from monai_d3gm.apps.reconstruction.dataset import VolumeSliceDataset, volume_slices
from monai_d3gm.apps.reconstruction.io import write_nifti
from monai_d3gm.apps.reconstruction.transforms import SimulateKspace, simulated_coil_maps


def make_volume(tmp_path, name="v.nii.gz", shape=(20, 24, 10)):
    rng = np.random.default_rng(0)
    vol = np.zeros(shape, np.float32)
    vol[4:-4, 4:-4, :] = rng.random((shape[0] - 8, shape[1] - 8, shape[2])) * 200
    path = tmp_path / name
    write_nifti(vol, np.eye(4), path)
    return path


def test_central_slices_scaled(tmp_path):
    path = make_volume(tmp_path)
    slices = volume_slices(path, axis=-1, central_fraction=0.6)
    assert len(slices) == 6 and slices[0].shape == (20, 24)
    assert all(0.0 <= s.min() and s.max() <= 1.0 for s in slices)


def test_dataset_from_folder_and_list(tmp_path):
    make_volume(tmp_path, "a.nii.gz")
    make_volume(tmp_path, "b.nii.gz", shape=(16, 16, 5))
    ds = VolumeSliceDataset(tmp_path, central_fraction=1.0)
    assert len(ds) == 15 and set(ds[0]) == {"image", "source"}
    assert len(VolumeSliceDataset([tmp_path / "b.nii.gz"], central_fraction=1.0)) == 5
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MRIInputError, match="no NIfTI volumes"):
        VolumeSliceDataset(empty)


def test_simulated_coil_maps_are_cached_and_normalised():
    a, b = simulated_coil_maps(4, 12, 10), simulated_coil_maps(4, 12, 10)
    assert a is b and a.shape == (4, 12, 10)
    torch.testing.assert_close(a.abs().square().sum(0), torch.ones(12, 10))
    k, maps = SimulateKspace(num_coils=4, phase="none")(np.ones((12, 10), np.float32))
    assert k.shape == (4, 12, 10) and maps is a
