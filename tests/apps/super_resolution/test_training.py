# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""What the super-resolution training draws (noisy LR acquisitions, mixed degradations) and how it validates."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import sigpy
import torch

from monai_d3gm.apps.super_resolution import SimulateLowResolution
from monai_d3gm.apps.super_resolution.validation import SuperResolutionValidator, held_out_slices
from monai_d3gm.errors import D3GMInputError, MRIInputError
from monai_d3gm.inferers import D3GMInferer
from monai_d3gm.networks.nets import ScoreUNet
from monai_d3gm.networks.schedulers import D3GMScheduler
from monai_d3gm.physics.resolution import kspace_downsample, sinc_upsample


def _phantom(n: int = 64) -> torch.Tensor:
    return torch.from_numpy(np.abs(sigpy.shepp_logan((n, n))).astype(np.float32))


def test_noisy_low_resolution_is_rician_at_the_drawn_level_and_the_target_stays_clean():
    image = _phantom()
    clean_mu, target = SimulateLowResolution(4, "kspace")(image)
    simulate = SimulateLowResolution(4, "kspace", noise_std=0.05).set_random_state(0)
    mu, noisy_target = simulate(image)
    torch.testing.assert_close(noisy_target, target)  # the target keeps only its own noise
    assert (mu - clean_mu).abs().max() > 0.01
    # on a flat slice the LR image is |c + n1 + i n2|: Rician, mean sqrt(c^2 + 2 s^2) (s = 0.05 c here), spread ~ s
    flat = torch.full((64, 64), 0.5)
    lr = kspace_downsample(SimulateLowResolution(4, "kspace", noise_std=0.05).set_random_state(1)(flat)[0][0], 4)
    s = 0.05 * 0.5
    assert float(lr.mean()) == pytest.approx(np.sqrt(0.25 + 2 * s**2), rel=0.01)
    assert float(lr.std()) == pytest.approx(s, rel=0.25)
    again = SimulateLowResolution(4, "kspace", noise_std=0.05).set_random_state(0)(image)[0]
    torch.testing.assert_close(again, mu, rtol=0, atol=0)  # seeded
    # the default draws no noise and nothing more than before
    torch.testing.assert_close(clean_mu, sinc_upsample(kspace_downsample(target[0], 4), 4)[None].float())
    with pytest.raises(D3GMInputError, match="noise_std"):
        SimulateLowResolution(4, "kspace", noise_std=-0.1)


def test_mixed_degradation_draws_kspace_and_blur():
    image = _phantom()
    mixed = SimulateLowResolution(4, "mixed", sigma=1.5).set_random_state(0)
    kspace, _ = SimulateLowResolution(4, "kspace")(image)
    blur, _ = SimulateLowResolution(4, "blur", sigma=1.5)(image)
    kinds = []
    for _ in range(20):
        mu, _ = mixed(image)
        kinds.append("kspace" if torch.allclose(mu, kspace) else "blur" if torch.allclose(mu, blur) else "other")
    assert set(kinds) == {"kspace", "blur"}
    with pytest.raises(D3GMInputError, match="mixed"):
        SimulateLowResolution(4, "bicubic")


def test_validation_slices_and_validator(tmp_path):
    """Held-out slices are taken once; the validator degrades them both ways, scores sinc beside D³GM, is
    deterministic and leaves the network's mode as it was."""
    volume = np.stack([np.abs(sigpy.shepp_logan((32, 32))) * (1 + 0.01 * k) for k in range(10)], -1)
    nib.save(nib.Nifti1Image(volume.astype(np.float32), np.eye(4)), tmp_path / "v.nii.gz")
    cases = held_out_slices([{"path": str(tmp_path / "v.nii.gz"), "axes": [2], "person": "p1"}], 2)
    assert [c["name"].split("#")[0] for c in cases] == ["p1", "p1"] and cases[0]["image"].shape == (32, 32)
    with pytest.raises(MRIInputError, match="validation volume"):
        held_out_slices([])
    torch.manual_seed(0)
    net = ScoreUNet(image_channels=1, channels=(8, 8), attention_levels=(False, False), norm_num_groups=4)
    inferer = D3GMInferer(D3GMScheduler(prediction_type="residual"), progress=False)
    validator = SuperResolutionValidator(cases, inferer, degradations=("kspace", "blur"), num_inference_steps=2)
    net.train()
    first, second = validator(net), validator(net)
    assert first == second and net.training
    assert set(first) == {"psnr", "ssim", "sinc_psnr", "sinc_ssim", "psnr_kspace", "psnr_blur"}
    assert first["psnr"] == pytest.approx((first["psnr_kspace"] + first["psnr_blur"]) / 2)
