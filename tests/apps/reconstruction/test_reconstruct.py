# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_d3gm.apps.reconstruction import MRIInputError
from monai_d3gm.apps.reconstruction.reconstruct import D3GMReconstructor
from monai_d3gm.apps.reconstruction.transforms import SimulateKspace
from monai_d3gm.inferers import D3GMInferer
from monai_d3gm.metrics import magnitude_metrics
from monai_d3gm.networks.nets import ScoreUNet
from monai_d3gm.networks.schedulers import D3GMScheduler
from monai_d3gm.physics.fft import fft2c
from monai_d3gm.physics.masks import CartesianMask


def phantom(h: int = 40, w: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[-1 : 1 : h * 1j, -1 : 1 : w * 1j]
    return (((yy / 0.8) ** 2 + (xx / 0.6) ** 2) < 1).astype(np.float32) * (0.5 + 0.5 * (xx > 0))


def reconstructor(**kwargs) -> D3GMReconstructor:
    torch.manual_seed(0)
    net = ScoreUNet(image_channels=2, channels=(8, 16), attention_levels=(False, False), norm_num_groups=8)
    with torch.no_grad():  # MONAI zero-initialises the output convolution: give the untrained network an output
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    inferer = D3GMInferer(D3GMScheduler(prediction_type="residual"), progress=False)
    args = {"mask": CartesianMask("equispaced", 4, 0.16), "num_inference_steps": 3, **kwargs}
    return D3GMReconstructor(net, inferer, **args)


def test_image_case_with_reference_and_metrics():
    result = reconstructor()({"image": phantom()})
    assert result["reconstruction"].shape == (40, 32) and torch.is_complex(result["reconstruction"])
    assert set(result["metrics"]) == {"d3gm", "zero_filled"}
    # hard data consistency at t = 0: the sampled k-space of the output is the measurement
    k_out = fft2c(result["reconstruction"])
    k_ref = fft2c(torch.from_numpy(phantom()).to(torch.complex64))
    sampled = result["mask"].bool()
    torch.testing.assert_close(k_out[sampled], k_ref[sampled], atol=1e-4, rtol=1e-4)
    assert result["std"] is None


def test_multicoil_kspace_uses_sense_and_samples_give_uncertainty():
    kspace, _ = SimulateKspace(num_coils=4, phase="none")(phantom(48, 48))
    rec = reconstructor(num_samples=2, sampler="posterior", calib_width=12)
    result = rec({"kspace": kspace.numpy()})
    assert result["std"].shape == (48, 48) and float(result["std"].max()) > 0
    assert result["reference"].shape == (48, 48)
    again = reconstructor(num_samples=2, sampler="posterior", calib_width=12)({"kspace": kspace.numpy()})
    torch.testing.assert_close(again["reconstruction"], result["reconstruction"], rtol=0, atol=0)


def test_acquired_kspace_without_reference():
    kspace, _ = SimulateKspace(num_coils=1, phase="none")(phantom())
    mask = CartesianMask("equispaced", 4, 0.16)((40, 32), seed=0)
    result = reconstructor(mask=None)({"kspace": (kspace * mask).numpy()})
    assert result["metrics"] == {} and result["reference"] is None


def test_bad_cases():
    with pytest.raises(MRIInputError, match="neither"):
        reconstructor()({"foo": 1})
    with pytest.raises(MRIInputError, match="needs a mask"):
        reconstructor(mask=None)({"image": phantom()})
    with pytest.raises(MRIInputError, match="data_consistency"):
        reconstructor(data_consistency="maybe")
    with pytest.raises(MRIInputError, match="all zeros"):
        magnitude_metrics(torch.ones(4, 4), torch.zeros(4, 4))
    with pytest.raises(MRIInputError, match="slice 3 holds only zeros.*whole_volume"):  # a padding slice
        reconstructor()({"image": np.zeros((16, 16), np.float32), "slice_index": 3})
    with pytest.raises(MRIInputError, match="holds only zeros"):
        reconstructor()({"kspace": np.zeros((2, 16, 16), np.complex64)})


@pytest.mark.parametrize("coils, combination", [(1, "sense"), (4, "sense"), (4, "rss")])
@pytest.mark.parametrize("scale", [1e-8, 1e8, 1e20])
def test_extreme_kspace_scales_give_the_scaled_result(coils, combination, scale):
    """k-space with a maximum near 1e-8, 1e8 or 1e20 is normalised: the result is the unit-scale result times the
    scale (measured: 4e-6 to 6e-6 of the image maximum, float32 round-off), also through the RSS combination, whose
    squares would overflow float32 at the input's scale."""
    from monai_d3gm.apps.reconstruction.inference import demo_case
    from tests.apps.reconstruction.test_volume import _reconstructor

    reconstructor = _reconstructor("sde")
    reconstructor.coil_combination = combination
    case = demo_case(num_coils=coils)
    base = reconstructor(case)
    scaled = reconstructor({**case, "kspace": case["kspace"] * np.complex64(scale)})
    for key in ("magnitude", "zero_filled"):
        error = (scaled[key] / scale - base[key]).abs().max() / base[key].max()
        assert float(error) < 1e-4
    if scale < 1e10:  # the reference (the RSS of the full data at the input's scale) overflows float32 at 1e20
        assert abs(scaled["metrics"]["d3gm"]["psnr"] - base["metrics"]["d3gm"]["psnr"]) < 1e-3


def test_phase_encoding_along_h_is_reconstructed_transposed():
    """The network learned aliasing along W: rows-mask data is reconstructed as the transpose of its transpose."""
    from monai_d3gm.apps.reconstruction.reconstruct import phase_encoding_along_h

    along_h = CartesianMask("random", 4, 0.16, direction="frequency")
    along_w = CartesianMask("random", 4, 0.16, direction="phase")
    assert phase_encoding_along_h(along_h((40, 32), seed=0))
    assert not phase_encoding_along_h(along_w((40, 32), seed=0))
    assert not phase_encoding_along_h(torch.ones(8, 8)) and not phase_encoding_along_h(torch.eye(8))
    image = phantom(40, 32)
    rows = reconstructor(mask=along_h, sampler="posterior")({"image": image})
    columns = reconstructor(mask=along_w, sampler="posterior")({"image": np.ascontiguousarray(image.T)})
    for key in ("reconstruction", "zero_filled", "mask", "reference"):
        assert rows[key].shape == (40, 32)
        # 1e-4: the phase map's FFTs run over the transposed grid, so round-off differs
        torch.testing.assert_close(rows[key], columns[key].transpose(-2, -1), atol=1e-4, rtol=1e-4)
    for method in ("d3gm", "zero_filled"):
        assert rows["metrics"][method] == pytest.approx(columns["metrics"][method], rel=1e-4)


def test_sense_lam_sets_how_closely_the_output_fits_the_measurements():
    """A smaller SENSE proximal weight pulls the multi-coil reconstruction onto the acquired samples."""
    from monai_d3gm.physics.sense import SenseOperator

    kspace, maps = SimulateKspace(num_coils=4, phase="none")(phantom(48, 48))
    mask = CartesianMask("equispaced", 4, 0.16)((48, 48), seed=0)
    residuals = []
    for lam in (1.0, 0.01):
        rec = reconstructor(calib_width=12, sense_lam=lam, sense_iterations=10)
        result = rec({"kspace": (kspace * mask).numpy(), "mask": mask.numpy(), "maps": maps.numpy()})
        predicted = SenseOperator(maps[None], mask).forward(result["reconstruction"][None])  # in the input's scale
        residuals.append(float((predicted - (kspace * mask)[None]).abs().norm()))
    assert residuals[1] < residuals[0]


def test_rss_coil_combination_keeps_the_measured_coil_data():
    """coil_combination="rss": the magnitude is the RSS of the SENSE result's coil images with the measurements put
    back (the same samples, one seed), its phase the SENSE result's; the background keeps the measured noise, and a
    single coil is left as it is."""
    from monai_d3gm.physics.sense import consistent_coil_rss

    kspace, maps = SimulateKspace(num_coils=4, phase="smooth")(phantom(48, 48))
    kspace = kspace + 0.02 * kspace.abs().max() * torch.randn(kspace.shape, dtype=torch.complex64)
    mask = CartesianMask("random", 4, 0.16)((48, 48), seed=0)
    case = {"kspace": (kspace * mask).numpy(), "mask": mask.numpy()}
    sense = reconstructor(mask=None, calib_width=12, coil_combination="sense")
    rss = reconstructor(mask=None, calib_width=12, coil_combination="rss")
    a, b = sense(case), rss(case)
    prepared = sense.prepare(case)
    expected = consistent_coil_rss(a["reconstruction"], prepared.maps, prepared.kspace * prepared.scale, mask)
    torch.testing.assert_close(b["magnitude"], expected)
    inside = a["reconstruction"].abs() > 0
    assert 0 < int(inside.sum()) < inside.numel()
    torch.testing.assert_close(torch.sgn(b["reconstruction"])[inside], torch.sgn(a["reconstruction"])[inside],
                               atol=1e-4, rtol=1e-4)  # fmt: skip
    assert float(a["magnitude"][~inside].max()) == 0
    assert float(b["magnitude"][~inside].mean()) > 0
    # the input is combined alike: the RSS of the zero-filled coil images
    zero_filled = (prepared.kspace * prepared.scale).numpy()
    torch.testing.assert_close(b["zero_filled"], torch.as_tensor(np.sqrt((np.abs(np.fft.fftshift(np.fft.ifft2(
        np.fft.ifftshift(zero_filled, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))) ** 2).sum(0))), atol=1e-5,
        rtol=1e-4)  # fmt: skip
    # without data consistency nothing measured goes back: the SENSE combination
    free = {"data_consistency": "none", "mask": None, "calib_width": 12}
    torch.testing.assert_close(reconstructor(coil_combination="rss", **free)(case)["reconstruction"],
                               reconstructor(coil_combination="sense", **free)(case)["reconstruction"])  # fmt: skip
    # phase encoding along H: the transpose of the transposed case's result
    twin = {"kspace": (kspace * mask).transpose(-2, -1).numpy(), "mask": mask.T.numpy()}
    torch.testing.assert_close(rss(twin)["magnitude"], b["magnitude"].T, atol=1e-4, rtol=1e-4)
    one, _ = SimulateKspace(num_coils=1, phase="smooth")(phantom(48, 48))
    single = {"kspace": (one * mask).numpy(), "mask": mask.numpy()}
    torch.testing.assert_close(rss(single)["reconstruction"], sense(single)["reconstruction"], rtol=0, atol=0)
    with pytest.raises(MRIInputError, match="coil_combination"):
        reconstructor(coil_combination="adaptive")


def test_cg_sense_mu_keeps_the_zero_filled_output():
    """``mu_iterations`` > 0 builds μ by CG-SENSE (closer to the image than the adjoint), while the written
    "zero_filled" stays the zero-filled (SENSE-adjoint) image of the input."""
    from monai_d3gm.apps.reconstruction.transforms import SenseAdjoint

    kspace, _ = SimulateKspace(num_coils=4, phase="none")(phantom(48, 48))
    mask = CartesianMask("equispaced", 4, 0.08)((48, 48), seed=0)
    case = {"kspace": (kspace * mask).numpy(), "mask": mask.numpy()}
    plain = reconstructor(mask=None, calib_width=12, coil_combination="sense")
    cg = reconstructor(mask=None, calib_width=12, coil_combination="sense", mu_iterations=5)
    a, b = plain.prepare(case), cg.prepare(case)
    torch.testing.assert_close(a.kspace * a.scale, b.kspace * b.scale)
    assert float((a.mu * a.scale - b.mu * b.scale).abs().max()) > 0.05 * float(a.mu.abs().max() * a.scale)
    torch.testing.assert_close(b.mu, SenseAdjoint(5)(b.kspace, b.maps) / SenseAdjoint(5)(b.kspace, b.maps).abs().max())
    torch.testing.assert_close(cg(case)["zero_filled"], plain(case)["zero_filled"], atol=1e-5, rtol=1e-4)


def test_single_coil_result_does_not_depend_on_the_acquisition_phase():
    """Single-coil k-space carries a global and a smooth phase the network did not learn: the phase map of its
    calibration region removes it, so μ, and without data consistency the result, are the same for any global phase;
    the complex result keeps the acquisition's phase (its k-space agrees with the measurement)."""
    image = phantom(48, 40)
    kspace, _ = SimulateKspace(num_coils=1, phase="smooth")(image)
    mask = CartesianMask("random", 4, 0.16)((48, 40), seed=0)
    free = reconstructor(mask=None, sampler="posterior", data_consistency="none")
    hard = reconstructor(mask=None, sampler="posterior", data_consistency="hard")
    base = kspace * mask
    for angle in (0.5, 2.0, -2.9):
        rotated = (base * np.exp(1j * angle)).to(torch.complex64)
        torch.testing.assert_close(free.prepare({"kspace": rotated}).mu, free.prepare({"kspace": base}).mu,
                                   atol=1e-4, rtol=1e-4)  # fmt: skip
        torch.testing.assert_close(free({"kspace": rotated})["magnitude"], free({"kspace": base})["magnitude"],
                                   atol=1e-4, rtol=1e-4)  # fmt: skip
        k_out = fft2c(hard({"kspace": rotated})["reconstruction"])
        torch.testing.assert_close(k_out[mask.bool()], rotated[0][mask.bool()], atol=1e-4, rtol=1e-3)
