# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.transforms import Compose

from monai_d3gm.apps.reconstruction import MRIInputError
from monai_d3gm.apps.reconstruction.transforms import (
    ChannelsToComplexd,
    ComplexToChannelsd,
    EstimateCoilMapsd,
    NormalizeByMaxd,
    ScaleBackd,
    SenseAdjointd,
    SimulateKspace,
    SimulateKspaced,
    UndersampleKspace,
    UndersampleKspaced,
)
from monai_d3gm.physics.fft import fft2c
from monai_d3gm.physics.masks import CartesianMask


def phantom(h: int = 48, w: int = 40) -> np.ndarray:
    yy, xx = np.mgrid[-1 : 1 : h * 1j, -1 : 1 : w * 1j]
    img = ((yy / 0.8) ** 2 + (xx / 0.6) ** 2 < 1).astype(np.float32) * 0.6
    img += ((yy / 0.3) ** 2 + ((xx - 0.2) / 0.2) ** 2 < 1).astype(np.float32) * 0.4
    return img


def chain(num_coils: int, phase: str = "none", mask=None):
    return Compose(
        [
            SimulateKspaced("image", num_coils=num_coils, phase=phase),
            UndersampleKspaced("kspace", mask=mask, full_key="kspace_full"),
            EstimateCoilMapsd("kspace", calib_width=12),
            SenseAdjointd(["kspace", "kspace_full"], output_keys=["mu", "target"]),
            NormalizeByMaxd(["mu", "target", "kspace"], reference_key="mu"),
            ComplexToChannelsd(["mu", "target"]),
        ]
    ).set_random_state(0)


def test_single_coil_chain():
    img = phantom()
    mask = CartesianMask("equispaced", acceleration=4, center_fraction=0.16)
    out = chain(1, mask=mask)({"image": img})
    assert out["mu"].shape == out["target"].shape == (2, 48, 40) and out["mu"].dtype == torch.float32
    assert out["mask"].shape == (48, 40) and 0.2 < float(out["mask"].mean()) < 0.4
    mu = torch.complex(out["mu"][0], out["mu"][1])
    assert abs(float(mu.abs().max()) - 1.0) < 1e-6  # normalised by max |mu|
    # one coil's "map" is the phase of its low-resolution image: unit modulus, and the image is P x
    phase = out["maps"][0]
    torch.testing.assert_close(phase.abs(), torch.ones(48, 40), atol=1e-5, rtol=0)
    target = torch.complex(out["target"][0], out["target"][1]) * out["scale"]
    torch.testing.assert_close(target * phase, torch.from_numpy(img).to(target.dtype), atol=1e-5, rtol=0)
    # mu is the zero-filled image with that phase removed: the k-space of P mu equals the measurement on the mask and
    # zero elsewhere
    k_mu = fft2c(phase * mu * out["scale"])
    torch.testing.assert_close(k_mu * (1 - out["mask"]), torch.zeros_like(k_mu), atol=1e-5, rtol=0)
    torch.testing.assert_close(k_mu, (out["kspace"] * out["scale"])[0], atol=1e-4, rtol=1e-4)
    back = ScaleBackd("target")(ChannelsToComplexd("target")(out))
    torch.testing.assert_close(back["target"].abs(), torch.from_numpy(img), atol=1e-5, rtol=0)


def test_multi_coil_chain_matches_magnitude():
    img = phantom(64, 64)
    out = chain(4, phase="smooth", mask=CartesianMask("random", acceleration=3, center_fraction=0.25))({"image": img})
    assert out["maps"].shape == out["kspace"].shape == (4, 64, 64)
    target = torch.complex(out["target"][0], out["target"][1]).abs() * out["scale"]
    inside = torch.from_numpy(img) > 0
    rel = float((target[inside] - torch.from_numpy(img)[inside]).abs().mean() / torch.from_numpy(img)[inside].mean())
    assert rel < 0.05, rel


def test_seeded_chains_repeat():
    mask = CartesianMask("random", acceleration=4, center_fraction=0.08)
    a = chain(1, "smooth", mask)({"image": phantom()})
    b = chain(1, "smooth", mask)({"image": phantom()})
    torch.testing.assert_close(a["mu"], b["mu"], rtol=0, atol=0)
    torch.testing.assert_close(a["mask"], b["mask"], rtol=0, atol=0)


def test_acquired_mask_is_taken_from_the_data():
    k = torch.randn(2, 16, 12, dtype=torch.complex64)
    k[:, ::3] = 0
    out = UndersampleKspaced("kspace")({"kspace": k})
    assert float(out["mask"][::3].sum()) == 0 and float(out["mask"][1::3].mean()) == 1.0
    torch.testing.assert_close(out["kspace"], k)


@pytest.mark.parametrize(
    "kspace, mask, match",
    [
        (torch.randn(8, 8), None, "complex"),
        (torch.full((8, 8), float("nan"), dtype=torch.complex64), None, "NaN"),
        (torch.zeros(8, 8, dtype=torch.complex64), None, "all zeros"),
        (torch.ones(8, 8, dtype=torch.complex64), torch.ones(8, 9), "does not match"),
        (torch.ones(2, 2, 8, 8, dtype=torch.complex64), None, "shape"),
    ],
)
def test_bad_kspace(kspace, mask, match):
    with pytest.raises(MRIInputError, match=match):
        UndersampleKspace(mask)(kspace)


def test_bad_images():
    with pytest.raises(MRIInputError, match="2-D slice"):
        SimulateKspace()(np.zeros((3, 4, 5)))
    with pytest.raises(MRIInputError, match="NaN"):
        SimulateKspace()(np.full((4, 5), np.inf))
    with pytest.raises(MRIInputError, match="normalise"):
        NormalizeByMaxd(["mu"])({"mu": torch.zeros(4, 4)})


@pytest.mark.parametrize("mu_iterations", [0, 4])
@pytest.mark.parametrize("num_coils", [1, 4])
def test_training_and_inference_build_the_same_mu(num_coils, mu_iterations):
    """One code path builds μ: the training chain and the reconstructor's ``prepare`` agree for the same input, with
    the SENSE adjoint and with CG-SENSE."""
    from monai.transforms import Compose

    from monai_d3gm.apps.reconstruction.reconstruct import D3GMReconstructor
    from monai_d3gm.apps.reconstruction.transforms import (
        AbsorbBackgroundPhased,
        AddKspaceNoised,
        ComplexToChannelsd,
        NormalizeByMaxd,
        SenseAdjointd,
        UndersampleKspaced,
    )
    from monai_d3gm.physics.acquisition import random_coil_maps
    from monai_d3gm.physics.fft import complex_to_channels
    from monai_d3gm.physics.masks import CartesianMask

    rng = np.random.default_rng(0)
    image = torch.as_tensor(rng.random((48, 40)), dtype=torch.float32)
    maps = random_coil_maps(num_coils, 48, 40, np.random.RandomState(0))
    full = fft2c(maps * image)
    noisy = AddKspaceNoised("kspace", relative_std=0.01)
    noisy.set_random_state(0)
    full = noisy({"kspace": full})["kspace"]
    mask = CartesianMask("random", 4, 0.08)
    train = Compose([
        UndersampleKspaced("kspace", mask=mask(full.shape[-2:], seed=3), full_key="kspace_full"),
        AbsorbBackgroundPhased("kspace", maps_key="maps"),
        SenseAdjointd(["kspace", "kspace_full"], output_keys=["mu", "target"], maps_key="maps",
                      iterations=mu_iterations),
        NormalizeByMaxd(["mu", "target"], reference_key="mu"),
        ComplexToChannelsd(["mu", "target"]),
    ])  # fmt: skip
    trained = train({"kspace": full, "maps": maps if num_coils > 1 else None})  # one coil: its own phase, no maps
    reconstructor = D3GMReconstructor(torch.nn.Identity(), None, mask=mask, mask_seed=3, mu_iterations=mu_iterations)
    case = {"kspace": full} if num_coils == 1 else {"kspace": full, "maps": maps}
    prepared = reconstructor.prepare(case)
    torch.testing.assert_close(complex_to_channels(prepared.mu[None, None])[0], trained["mu"])
    if num_coils == 1:  # image-domain inputs (NIfTI, DICOM) go through the same single-coil simulation
        from_image = reconstructor.prepare({"image": image.numpy()})
        clean = train({"kspace": fft2c(image.to(torch.complex64))[None], "maps": None})
        torch.testing.assert_close(complex_to_channels(from_image.mu[None, None])[0], clean["mu"])


def test_absorb_background_phase_gives_one_coil_its_phase_map():
    """One coil: the map is the unit-modulus phase of the low-resolution image; it turns with the data's global phase
    and does not depend on its scale, so μ = P^H F^-1 y is the same for any of them and nearly real."""
    from monai_d3gm.apps.reconstruction.transforms import AbsorbBackgroundPhase, AbsorbBackgroundPhased, SenseAdjoint

    full, _ = SimulateKspace(num_coils=1, phase="smooth").set_random_state(3)(phantom(48, 40))
    full = (full * np.exp(2j)).to(torch.complex64)  # and a global phase, as real acquisitions have
    kspace = full * CartesianMask("random", 4, 0.16)((48, 40), seed=0)
    phase = AbsorbBackgroundPhase()(kspace)
    torch.testing.assert_close(phase.abs(), torch.ones_like(phase.abs()), atol=1e-5, rtol=0)
    inside = torch.from_numpy(phantom(48, 40)) > 0
    image, raw = SenseAdjoint()(full, phase)[inside], SenseAdjoint()(full)[inside]
    ratio = lambda z: float(z.imag.abs().mean() / z.real.abs().mean())  # noqa: E731
    assert ratio(raw) > 1.0 and ratio(image) < 0.3, (ratio(raw), ratio(image))  # the phase map removes most of it
    mu = SenseAdjoint()(kspace, phase)
    for factor in (np.exp(2.5j), 1e-6 * np.exp(-1j)):
        turned = (kspace * factor).to(torch.complex64)
        torch.testing.assert_close(SenseAdjoint()(turned, AbsorbBackgroundPhase()(turned)) / abs(factor), mu,
                                   atol=1e-5, rtol=1e-4)  # fmt: skip
    # given maps keep their magnitudes; the dictionary form fills the maps key for one coil
    maps = SimulateKspace(num_coils=4, coil_geometry="random")(phantom(48, 40))[1]
    multi = fft2c(maps * torch.from_numpy(phantom(48, 40)))
    torch.testing.assert_close(AbsorbBackgroundPhase()(multi, maps).abs(), maps.abs(), atol=1e-5, rtol=1e-5)
    d = AbsorbBackgroundPhased("kspace", maps_key="maps")({"kspace": kspace})
    torch.testing.assert_close(d["maps"], phase)
    with pytest.raises(MRIInputError, match="must match"):
        AbsorbBackgroundPhase()(multi, maps[:2])


def test_absorb_background_phase_without_calibration_region_and_with_a_given_single_coil_map():
    """No fully sampled centre: one coil's map is the image's mean phase, so a global phase still cancels; a given
    single-coil map counts by its phase only."""
    from monai_d3gm.apps.reconstruction.transforms import AbsorbBackgroundPhase, SenseAdjoint

    full, _ = SimulateKspace(num_coils=1, phase="smooth").set_random_state(1)(phantom(48, 40))
    mask = torch.zeros(48, 40)
    mask[:, 1::3] = 1  # every third line, no centre block
    kspace = full * mask
    mu = SenseAdjoint()(kspace, AbsorbBackgroundPhase()(kspace))
    turned = (kspace * np.exp(-2.2j)).to(torch.complex64)
    torch.testing.assert_close(SenseAdjoint()(turned, AbsorbBackgroundPhase()(turned)), mu, atol=1e-5, rtol=1e-5)
    gain = torch.full((1, 48, 40), 3.0, dtype=torch.complex64) * np.exp(0.7j)
    torch.testing.assert_close(
        AbsorbBackgroundPhase()(kspace, gain), AbsorbBackgroundPhase()(kspace), atol=1e-5, rtol=0
    )


def test_cg_sense_mu_unfolds_what_the_coils_resolve():
    """``SenseAdjoint(iterations=n)``: on undersampled multi-coil k-space each CG iteration fits the data better and
    comes closer to the image than the adjoint does; one coil, or fully sampled k-space, gives the adjoint itself."""
    from monai_d3gm.apps.reconstruction.transforms import SenseAdjoint
    from monai_d3gm.physics.acquisition import random_coil_maps
    from monai_d3gm.physics.sense import SenseOperator

    image = torch.from_numpy(phantom(64, 64)).to(torch.complex64)
    maps = random_coil_maps(8, 64, 64, np.random.RandomState(1))
    mask = CartesianMask("equispaced", 4, 0.08)((64, 64), seed=0)
    full = fft2c(maps * image)
    kspace = full * mask
    op = SenseOperator(maps[None], mask)

    def fit(x):  # least-squares scale of x against the image, then the relative error and the data residual
        scale = (x.conj() * image).sum() / (x.conj() * x).sum()
        x = scale * x
        return float((x - image).norm() / image.norm()), float((op.forward(x[None]) - kspace[None]).norm())

    errors = [fit(SenseAdjoint(n)(kspace, maps)) for n in (0, 2, 8)]
    assert errors[2][0] < errors[1][0] < errors[0][0] and errors[2][0] < 0.7 * errors[0][0], errors
    assert errors[2][1] < errors[1][1] < errors[0][1], errors
    adjoint = SenseAdjoint()(full, maps)
    torch.testing.assert_close(SenseAdjoint(5)(full, maps), adjoint, atol=1e-5, rtol=1e-4)
    phase = maps[:1] / maps[:1].abs().clamp_min(1e-12)  # one coil: a unit-modulus phase map
    one = fft2c(phase * image) * mask
    torch.testing.assert_close(SenseAdjoint(5)(one, phase), SenseAdjoint()(one, phase), atol=1e-5, rtol=1e-4)
    for bad in (-1, 2.5, float("nan"), True, "5"):
        with pytest.raises(MRIInputError, match="iterations"):
            SenseAdjoint(bad)
    # the CG runs in units of the adjoint's peak: μ scales with the data at any scanner's scale, without overflow
    for scale in (1e-20, 1e20):
        torch.testing.assert_close(SenseAdjoint(8)(kspace * scale, maps) / scale, SenseAdjoint(8)(kspace, maps),
                                   atol=1e-5, rtol=1e-4)  # fmt: skip
    # an explicit mask: samples that happen to be exactly zero on an acquired line stay in the forward model
    holes = kspace.clone()
    holes[:, :, int(mask.nonzero()[0, 1])] = 0  # one acquired line measured as zeros
    assert not torch.equal(SenseAdjoint(8)(holes, maps, mask), SenseAdjoint(8)(holes, maps))
