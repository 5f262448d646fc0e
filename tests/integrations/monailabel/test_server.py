# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""A real MONAI Label server with the sample app, called over HTTP as 3D Slicer calls it.

The server runs in an environment of its own, built as ``docs/slicer.md`` documents:
``pip install --no-deps "monailabel==0.8.5"`` and ``pip install "monai-d3gm[monailabel-server]"`` (the extra pins
pydicom<3, dicomweb-client<0.61, pynetdicom<3). To avoid downloading and installing torch, MONAI and the project's
other dependencies a second time, the new virtual environment sees this environment's site-packages through a
``.pth`` file, after its own: what the extra installs (pydicom 2.4, ...) shadows this environment's versions, and
nothing else is installed twice. The server listens on 127.0.0.1 only and is stopped by its process id.

Skipped, with the reason, when the packages cannot be installed (no package index).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import venv
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import sigpy

from monai_d3gm.integrations.monailabel import sample_app_dir
from tests.bundles.bundle_checks import BUNDLES

requests = pytest.importorskip("requests", reason="the HTTP client of this test")

ROOT = Path(__file__).resolve().parents[3]
AFFINE = np.array([[0.0, 1.1, 0.0, -30.0], [0.9, 0.0, 0.0, 20.0], [0.0, 0.0, 2.5, -4.0], [0, 0, 0, 1.0]])


def _pip(python: Path, *args: str) -> None:
    cmd = [str(python), "-m", "pip", "install", "-q", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        pytest.skip("installing the MONAI Label server's packages took over 15 minutes (a slow package index?)")
    if proc.returncode != 0:
        pytest.skip(f"the MONAI Label server's packages could not be installed: {proc.stderr[-500:]}")


def _server_environment(where: Path) -> Path:
    """A virtual environment with MONAI Label and the extra, seeing this environment's packages after its own."""
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    host = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    Path(site, "monai_d3gm_host.pth").write_text("".join(f"{p}\n" for p in host))
    _pip(python, "--no-deps", "monailabel==0.8.5")
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml's extra needs Python 3.11")
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    _pip(python, *extra["monailabel-server"])
    return python


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("monailabel")
    python = _server_environment(root / "venv")
    app = shutil.copytree(sample_app_dir(), root / "app")  # the server writes logs and models beside its app
    studies = root / "studies"
    studies.mkdir()
    volume = np.abs(sigpy.shepp_logan((3, 32, 32))).astype(np.float32).transpose(1, 2, 0) + 0.05
    nib.save(nib.Nifti1Image(volume, AFFINE), studies / "study1.nii.gz")
    port = _free_port()
    log = open(root / "server.log", "w")
    (root / "tmp").mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2", "TMPDIR": str(root / "tmp"),
           "HOME": str(root / "home")}  # MONAI Label's session cache goes under HOME  # fmt: skip
    cmd = [str(python), "-m", "monailabel.main", "start_server", "--app", str(app), "--studies",
           str(studies), "--conf", "bundles", str(BUNDLES), "--conf", "models",
           "mri_reconstruction_d3gm,mri_super_resolution_d3gm", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        ready = False
        for _ in range(120):  # bounded: at most about two minutes to start
            if proc.poll() is not None:
                break
            with contextlib.suppress(requests.RequestException):
                ready = requests.get(f"{url}/info/", timeout=2).ok
            if ready:
                break
            time.sleep(1)
        if not ready:
            pytest.fail(f"the server did not start ({proc.poll()}):\n{(root / 'server.log').read_text()[-4000:]}")
        yield url, volume, root / "tmp"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the server by its process id (and its group)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _infer(url: str, model: str, params: dict, output: str = "image") -> requests.Response:
    """POST /infer/<model>, multipart with the options in ``params``, as the Slicer module sends it."""
    return requests.post(
        f"{url}/infer/{model}", params={"image": "study1", "output": output},
        files={"params": (None, json.dumps(params))}, timeout=300,
    )  # fmt: skip


def test_info_lists_both_mri_models(server):
    url, _, _ = server
    info = requests.get(f"{url}/info/", timeout=10).json()
    models = info["models"]
    assert set(models) == {"mri_reconstruction_d3gm", "mri_super_resolution_d3gm"}
    assert models["mri_reconstruction_d3gm"]["type"] == "others" and models["mri_reconstruction_d3gm"]["labels"] == []
    assert "slices" in models["mri_reconstruction_d3gm"]["config"]


def test_reconstruction_returns_the_whole_aligned_volume(server, tmp_path):
    url, volume, _ = server
    response = _infer(url, "mri_reconstruction_d3gm", {"num_inference_steps": 1, "device": "cpu"})
    assert response.status_code == 200, response.text[-2000:]
    (tmp_path / "out.nii.gz").write_bytes(response.content)
    out = nib.load(tmp_path / "out.nii.gz")
    assert out.shape == volume.shape
    np.testing.assert_allclose(out.affine, AFFINE, atol=1e-4)
    data = out.get_fdata()
    for k in range(volume.shape[2]):  # each slice reconstructs its own slice of the study
        corr = np.corrcoef(data[..., k].ravel(), volume[..., k].ravel())[0, 1]
        assert corr > 0.6, (k, corr)  # a content check on a 32x32 phantom at 4x, not a quality measure


def test_super_resolution_returns_a_finer_volume_in_the_same_field_of_view(server, tmp_path):
    url, volume, _ = server
    response = _infer(url, "mri_super_resolution_d3gm", {"num_inference_steps": 1, "device": "cpu"})
    assert response.status_code == 200, response.text[-2000:]
    (tmp_path / "sr.nii.gz").write_bytes(response.content)
    out = nib.load(tmp_path / "sr.nii.gz")
    assert out.shape == (128, 128, 3)  # every slice, 4x finer in-plane
    np.testing.assert_allclose(np.abs(out.affine[:3, :2]).sum(0), [0.9 / 4, 1.1 / 4], atol=1e-4)
    np.testing.assert_allclose(out.affine[:3, 2], AFFINE[:3, 2], atol=1e-4)  # the slices stay where they were
    for k in range(3):
        low = out.get_fdata()[..., k].reshape(32, 4, 32, 4).mean(axis=(1, 3))
        assert np.corrcoef(low.ravel(), volume[..., k].ravel())[0, 1] > 0.8, k


def test_a_bad_option_is_a_readable_error_not_a_bare_500(server):
    url, _, server_tmp = server
    response = _infer(url, "mri_reconstruction_d3gm", {"slices": "7:9"}, output="json")
    assert response.status_code == 422 and "selects nothing" in response.json()["detail"], response.text
    response = _infer(url, "mri_reconstruction_d3gm", {"num_inference_steps": "many"}, output="json")
    assert response.status_code == 422 and "num_inference_steps" in response.json()["detail"], response.text
    time.sleep(1)  # the server deletes a sent result in a background task
    assert not list(server_tmp.glob("d3gm_*")), list(server_tmp.iterdir())  # no request left files behind
