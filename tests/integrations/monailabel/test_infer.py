# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The MONAI Label infer task: an image in, a restored image out (same geometry), never filed as a label."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import sigpy

from monai_d3gm.integrations.monailabel import D3GMInferTask, has_monailabel, sample_app_dir
from monai_d3gm.io import write_nifti
from tests.bundles.bundle_checks import BUNDLES

RECON = BUNDLES / "mri_reconstruction_d3gm"


def _volume(tmp_path: Path) -> tuple[Path, np.ndarray]:
    affine = np.array([[0.0, 1.1, 0.0, -30.0], [0.9, 0.0, 0.0, 20.0], [0.0, 0.0, 2.5, -4.0], [0, 0, 0, 1.0]])
    volume = np.abs(sigpy.shepp_logan((3, 32, 32))).astype(np.float32).transpose(1, 2, 0) + 0.05
    return write_nifti(volume, affine, tmp_path / "study.nii.gz"), affine


def test_task_describes_an_image_to_image_model():
    task = D3GMInferTask(RECON)
    info = task.info()
    assert info["type"] == "others" and info["labels"] == [] and info["dimension"] == 3
    assert set(info["config"]) == {"num_inference_steps", "num_samples", "seed", "result", "interval", "uncertainty",
                                   "batch_size", "slices"}  # fmt: skip
    assert "not a label" in info["description"]
    assert task.is_valid()
    assert not D3GMInferTask(BUNDLES / "no_such_bundle").is_valid()
    assert D3GMInferTask(BUNDLES / "derain_d3gm", dimension=2).output_key == "restored"


def test_task_restores_a_volume_with_its_geometry(tmp_path):
    path, affine = _volume(tmp_path)
    request = {"image": str(path), "num_inference_steps": 2, "num_samples": 2, "device": "cpu",
               "output_dir": str(tmp_path / "out"), "save_label": True}  # fmt: skip
    result_file, result_json = D3GMInferTask(RECON)(request)
    out = nib.load(result_file)
    assert out.shape == (32, 32, 3)
    np.testing.assert_allclose(out.affine, affine, atol=1e-5)  # opens aligned with the study in Slicer
    assert request["save_label"] is False  # the server must not store the restored image as a label
    assert result_json["kind"] == "image" and "std" in result_json["files"]  # num_samples=2: an uncertainty map
    assert set(result_json["metrics"]) == {"d3gm", "zero_filled"}


def test_served_requests_leave_nothing_behind_and_return_no_server_paths(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "server_tmp"))
    (tmp_path / "server_tmp").mkdir()
    path, affine = _volume(tmp_path)
    request = {"image": str(path), "num_inference_steps": 1, "slices": "1:3", "device": "cpu"}  # as Slicer sends
    result_file, result_json = D3GMInferTask(RECON)(request)
    out = nib.load(result_file)
    assert out.shape == (32, 32, 2)  # slices 1 and 2, where they lie in the study
    np.testing.assert_allclose(out.affine[:3, 3], affine[:3, 3] + affine[:3, 2], atol=1e-5)
    assert [p.name for p in (tmp_path / "server_tmp").iterdir()] == [Path(result_file).name]  # only the result
    assert "files" not in result_json and "reconstruction" in result_json["outputs"]
    assert str(tmp_path) not in str(result_json)  # nothing names a server path


def test_refused_inputs_reach_the_client_as_a_readable_422(tmp_path, monkeypatch):
    import tempfile

    import monai_d3gm.integrations.monailabel.infer as infer

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "server_tmp"))
    (tmp_path / "server_tmp").mkdir()

    class HTTPException(Exception):  # fastapi's, as the server raises it
        def __init__(self, status_code, detail):
            super().__init__(detail)
            self.status_code, self.detail = status_code, detail

    monkeypatch.setattr(infer, "_HTTPException", HTTPException)
    monkeypatch.setattr(infer, "has_fastapi", True)
    path, _ = _volume(tmp_path)
    with pytest.raises(HTTPException) as refused:
        D3GMInferTask(RECON)({"image": str(path), "slices": "7:9", "device": "cpu"})
    assert refused.value.status_code == 422 and "selects nothing" in refused.value.detail
    with pytest.raises(HTTPException, match="option num_inference_steps must be a int"):
        D3GMInferTask(RECON)({"image": str(path), "num_inference_steps": "many"})
    assert not any((tmp_path / "server_tmp").iterdir())  # refused requests leave nothing behind either


def test_uncertainty_returns_the_standard_deviation_of_the_samples(tmp_path):
    path, affine = _volume(tmp_path)
    options = {"image": str(path), "num_inference_steps": 2, "num_samples": 3, "device": "cpu"}
    mean_file, _ = D3GMInferTask(RECON)({**options, "output_dir": str(tmp_path / "a")})
    std_file, summary = D3GMInferTask(RECON)({**options, "uncertainty": "true", "output_dir": str(tmp_path / "b")})
    assert Path(std_file).name == "std.nii.gz" and "std" in summary["outputs"]
    std, mean = nib.load(std_file), nib.load(mean_file)
    np.testing.assert_allclose(std.affine, affine, atol=1e-5)
    assert std.shape == mean.shape and std.get_fdata().min() >= 0 and std.get_fdata().max() > 0
    assert not np.allclose(std.get_fdata(), mean.get_fdata())
    with pytest.raises(ValueError, match="num_samples to 2 or more"):
        D3GMInferTask(RECON)({"image": str(path), "uncertainty": True})
    with pytest.raises(ValueError, match="true or false"):
        D3GMInferTask(RECON)({"image": str(path), "uncertainty": "maybe"})


def test_interval_bounds_come_back_as_volumes(tmp_path):
    """``result`` "lower" / "upper": the calibrated interval's bounds (the shipped ``models/calibration.json``), aligned
    with the study and around the mean; a bundle without a calibration says how to make one."""
    import shutil

    path, affine = _volume(tmp_path)
    options = {"image": str(path), "num_inference_steps": 1, "num_samples": 2, "device": "cpu", "interval": 0.9}
    files = {r: D3GMInferTask(RECON)({**options, "result": r, "output_dir": str(tmp_path / r)}) for r in
             ("mean", "lower", "upper")}  # fmt: skip
    images = {r: nib.load(f) for r, (f, _) in files.items()}
    np.testing.assert_allclose(images["lower"].affine, affine, atol=1e-5)
    lower, mean, upper = (np.asarray(images[r].dataobj) for r in ("lower", "mean", "upper"))
    assert np.all(lower <= mean + 1e-6) and np.all(mean <= upper + 1e-6) and np.any(lower < upper)
    assert files["lower"][1]["interval"]["level"] == 0.9
    with pytest.raises(ValueError, match="result must be one of"):
        D3GMInferTask(RECON)({**options, "result": "median"})
    with pytest.raises(ValueError, match="num_samples to 2 or more"):
        D3GMInferTask(RECON)({**options, "result": "upper", "num_samples": 1})
    bare = tmp_path / "bare_bundle"
    shutil.copytree(RECON, bare, ignore=shutil.ignore_patterns("calibration.json", "training_checkpoint.pt"))
    with pytest.raises(ValueError, match="no interval calibration.*calibrate.json"):
        D3GMInferTask(bare)({**options, "result": "lower"})


def test_photo_interval_bounds_come_back_as_pictures(tmp_path):
    """The derain bundle's shipped photo calibration through MONAI Label: lower and upper PNGs around the mean."""
    from PIL import Image

    photo = tmp_path / "rainy.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(photo)
    task = D3GMInferTask(BUNDLES / "derain_d3gm", dimension=2)
    options = {"image": str(photo), "num_inference_steps": 1, "num_samples": 2, "device": "cpu", "interval": 0.9}
    files = {r: task({**options, "result": r, "output_dir": str(tmp_path / r)}) for r in ("mean", "lower", "upper")}
    lower, mean, upper = (np.asarray(Image.open(files[r][0]), dtype=int) for r in ("lower", "mean", "upper"))
    assert lower.shape == mean.shape == (40, 56, 3)
    assert np.all(lower <= mean + 1) and np.all(mean <= upper + 1) and np.any(lower < upper)
    assert files["upper"][1]["interval"]["level"] == 0.9


def test_task_rejects_missing_images_and_bundles(tmp_path):
    with pytest.raises(ValueError, match="request\\['image'\\] must be the path"):
        D3GMInferTask(RECON)({"image": str(tmp_path / "missing.nii.gz")})
    path, _ = _volume(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a usable bundle"):
        D3GMInferTask(tmp_path / "empty_bundle")({"image": str(path)})


@pytest.mark.skipif(not has_monailabel, reason="monailabel is not installed (pip install --no-deps monailabel)")
def test_task_is_a_real_monailabel_infer_task():
    from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType

    task = D3GMInferTask(RECON)
    assert isinstance(task, InferTask)
    assert task.type == InferType.OTHERS
    assert InferTask.info(task)["config"] == task.config()


def test_sample_app_registers_the_bundles():
    assert (sample_app_dir() / "main.py").is_file()
    pytest.importorskip("monailabel.interfaces.app", reason="the sample app needs a full monailabel install")
    import importlib.util

    spec = importlib.util.spec_from_file_location("d3gm_monailabel_app", sample_app_dir() / "main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = module.MyApp.__new__(module.MyApp)  # without starting the server's datastore
    app.bundles, app.models = BUNDLES, ["mri_reconstruction_d3gm", "derain_d3gm", "missing_bundle"]
    infers = app.init_infers()
    assert sorted(infers) == ["derain_d3gm", "mri_reconstruction_d3gm"]
    assert infers["derain_d3gm"].dimension == 2
