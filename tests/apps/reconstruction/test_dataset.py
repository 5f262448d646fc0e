# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_d3gm.apps.reconstruction import MRIInputError
from monai_d3gm.apps.reconstruction.dataset import VolumeSliceDataset, volume_slices
from monai_d3gm.apps.reconstruction.transforms import SimulateKspace, simulated_coil_maps
from monai_d3gm.io import write_nifti


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


def test_entries_choose_axes_fraction_step_and_repeat(tmp_path):
    path = make_volume(tmp_path, shape=(20, 24, 10))
    plain = VolumeSliceDataset([{"path": str(path), "axes": [2]}], central_fraction=1.0)
    assert len(plain) == 10
    # axis 0: the 12 slices holding the object (the 4 empty ones at each end are dropped); axis 2: all 10
    both = VolumeSliceDataset([{"path": str(path), "axes": [0, 2], "central_fraction": 1.0}], central_fraction=0.1)
    assert len(both) == 12 + 10 and {tuple(d["image"].shape) for d in both.data} == {(24, 10), (20, 24)}
    stepped = VolumeSliceDataset([{"path": str(path), "axes": [2], "slice_step": 3, "repeat": 2}], central_fraction=1.0)
    assert len(stepped) == 2 * 4


def test_split_file_is_person_level_and_complete():
    """The bundle's split: no person in two parts, every volume present, benchmark people never trained on."""
    import json
    from pathlib import Path

    from monai_d3gm.apps.reconstruction.dataset import split_volumes
    from tests.utils import shared_data

    split_file = (
        Path(__file__).resolve().parents[3] / "bundles" / "mri_reconstruction_d3gm" / "configs" / "data_split.json"
    )
    table = json.loads(split_file.read_text())
    people = {part: {e["person"] for e in table[part]} for part in ("train", "validation", "benchmark")}
    assert not people["train"] & people["validation"]
    assert not people["train"] & people["benchmark"]
    assert not people["validation"] & people["benchmark"]
    assert all(e.get("license") for part in people for e in table[part])
    root = shared_data()
    for part in people:
        entries = split_volumes(split_file, part, root)
        assert all(Path(e["path"]).exists() for e in entries)
    with pytest.raises(MRIInputError, match="no part"):
        split_volumes(split_file, "test", root)


def test_bundle_volumes_uses_the_split_or_your_own_folder(tmp_path):
    import json

    from monai_d3gm.apps.reconstruction.dataset import bundle_volumes

    make_volume(tmp_path, "a.nii.gz")
    make_volume(tmp_path, "b.nii.gz")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": [{"path": "a.nii.gz", "person": "A", "axes": [0]}],
                                 "validation": [{"path": "b.nii.gz", "person": "B", "axes": [2]}]}))  # fmt: skip
    assert [e["person"] for e in bundle_volumes(tmp_path, split, "validation")] == ["B"]
    assert bundle_volumes(tmp_path, split, "train")[0]["axes"] == [0]
    own = tmp_path / "own"
    own.mkdir()
    make_volume(own, "subject01.nii.gz")
    assert bundle_volumes(own, split, "train") == [{"path": str(own / "subject01.nii.gz")}]
    assert bundle_volumes(own / "subject01.nii.gz", split, "validation") == [{"path": str(own / "subject01.nii.gz")}]
    with pytest.raises(MRIInputError, match="no such file"):
        bundle_volumes(tmp_path / "missing", split, "train")
