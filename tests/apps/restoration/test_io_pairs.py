# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""RGB readers/writers, paired-folder discovery, the paired dataset, metrics and augmentation transforms."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from monai_d3gm.apps.restoration import ImageInputError, find_pairs, read_rgb, read_rgb_uint8, write_rgb
from monai_d3gm.apps.restoration.dataset import PairedImageDataset
from monai_d3gm.apps.restoration.metrics import rgb_metrics
from monai_d3gm.apps.restoration.transforms import LoadRGBImaged, RandSyntheticDegradation, RandSyntheticDegradationd
from monai_d3gm.errors import D3GMInputError
from tests.utils import shared_data


def _photo(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _save(path, array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_png_round_trip_and_conversions(tmp_path):
    rgb = _photo()
    write_rgb(tmp_path / "a.png", rgb.transpose(2, 0, 1) / 255.0)
    np.testing.assert_array_equal(read_rgb_uint8(tmp_path / "a.png"), rgb.transpose(2, 0, 1))
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.png")
    grey = read_rgb(tmp_path / "grey.png")
    assert grey.shape == (3, 24, 32) and grey.dtype == np.float32 and np.allclose(grey[0], grey[2])
    Image.fromarray(np.dstack([rgb, rgb[..., :1]])).save(tmp_path / "rgba.png")
    assert read_rgb(tmp_path / "rgba.png").shape == (3, 24, 32)


def test_bad_files_name_the_problem(tmp_path):
    with pytest.raises(ImageInputError, match="does not exist"):
        read_rgb(tmp_path / "missing.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageInputError, match="not a readable image"):
        read_rgb(tmp_path / "text.png")
    Image.fromarray(_photo(64, 64)).save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageInputError, match="truncated or corrupt"):
        read_rgb(tmp_path / "cut.jpg")
    with pytest.raises(ImageInputError, match="NaN"):
        write_rgb(tmp_path / "nan.png", np.full((3, 4, 4), np.nan))
    assert not (tmp_path / "nan.png").exists()


@pytest.mark.parametrize(
    "degraded, clean",
    [
        ("input/1.png", "target/1.png"),  # Restormer / AirNet
        ("rain/X2/norain-1x2.png", "norain/norain-1.png"),  # JORDER Rain100L
        ("hazy/27_outdoor_hazy.jpg", "GT/27_outdoor_GT.jpg"),  # O-HAZE
        ("input/0001_0.8_0.2.jpg", "target/0001.png"),  # SOTS
        ("train/LQ/img_3.png", "train/GT/img_3.png"),  # IR-SDE
    ],
)
def test_published_layouts_pair_up(tmp_path, degraded, clean):
    _save(tmp_path / degraded, _photo())
    _save(tmp_path / clean, _photo(seed=1))
    pairs = find_pairs(tmp_path)
    assert len(pairs) == 1
    assert pairs[0]["input"].endswith(degraded.split("/")[-1]) and pairs[0]["target"].endswith(clean.split("/")[-1])


def test_pairing_errors(tmp_path):
    with pytest.raises(ImageInputError, match="not a folder"):
        find_pairs(tmp_path / "nope")
    _save(tmp_path / "photos" / "a.png", _photo())
    with pytest.raises(ImageInputError, match="holds no image pairs"):
        find_pairs(tmp_path)
    _save(tmp_path / "input" / "1.png", _photo())
    _save(tmp_path / "input" / "2.png", _photo())
    _save(tmp_path / "target" / "1.png", _photo())
    with pytest.raises(ImageInputError, match=r"matches \['2.png'\]"):
        find_pairs(tmp_path)


def _save_pair(folder, name: str) -> None:
    _save(folder / "input" / f"{name}.png", _photo())
    _save(folder / "target" / f"{name}.png", _photo(seed=2))


def test_paired_dataset_holds_out_and_checks_sizes(tmp_path):
    for name in ("1", "2"):
        _save(tmp_path / "input" / f"{name}.png", _photo())
        _save(tmp_path / "target" / f"{name}.png", _photo(seed=2))
    ds = PairedImageDataset(tmp_path, repeats=3, exclude=["2"])
    assert len(ds) == 3 and {item["name"] for item in ds.data} == {"1"}
    assert ds.data[0]["mu"] is ds.data[1]["mu"]  # repeats share the decoded arrays
    with pytest.raises(ImageInputError, match="not pairs"):
        PairedImageDataset(tmp_path, exclude=["7"])
    _save(tmp_path / "target" / "2.png", _photo(20, 32))
    with pytest.raises(ImageInputError, match="same size"):
        PairedImageDataset(tmp_path)


def test_real_pairs_are_found():
    assert len(find_pairs(shared_data("derain-pairs"))) == 4
    names = {p["name"] for p in find_pairs(shared_data("dehaze-pairs"))}
    assert "o-haze_27_outdoor_hazy" in names and "sots_outdoor_airnet_0001_0.8_0.2" in names


def test_uint8_metrics():
    a = _photo().transpose(2, 0, 1).astype(np.float32) / 255.0
    b = np.clip(a + 2 / 255.0, 0, 1)
    b[a > 253 / 255.0] = a[a > 253 / 255.0] + 0  # keep the clipped pixels out of the way
    m = rgb_metrics(np.where(a > 253 / 255.0, a, b), a)
    mask = a <= 253 / 255.0
    expected = 10 * np.log10(255.0**2 / (4.0 * mask.mean()))
    assert m["psnr"] == pytest.approx(expected, abs=1e-3)
    assert m["ssim"] > 0.9 and m["lpips"] is None


def test_synthetic_degradation_is_seeded_and_loaded_images_are_scaled(tmp_path):
    _save(tmp_path / "a.png", _photo(48, 48))
    d = LoadRGBImaged(["target"])({"target": tmp_path / "a.png"})
    assert d["target"].max() <= 1.0 and d["target"].dtype == np.float32
    d["mu"] = d["target"]
    for kind in ("rain", "haze"):
        t1 = RandSyntheticDegradationd(kind=kind, prob=1.0).set_random_state(5)
        t2 = RandSyntheticDegradationd(kind=kind, prob=1.0).set_random_state(5)
        a, b = t1(d)["mu"], t2(d)["mu"]
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, d["target"]) and a.shape == (3, 48, 48)
    assert RandSyntheticDegradationd(prob=0.0)(d)["mu"] is d["mu"]


def test_rain_width_and_mist():
    """Wider streaks cover more pixels; the mist lifts the dark parts of the photo; the defaults are the old rain."""
    from monai_d3gm.physics.weather import add_rain

    dark = np.full((3, 64, 64), 0.1, np.float32)
    thin, wide = add_rain(dark, density=0.005, seed=1), add_rain(dark, density=0.005, seed=1, width=3)
    assert (wide > 0.15).sum() > 2 * (thin > 0.15).sum()
    misty = add_rain(dark, density=0.0, veil=0.4, veil_light=0.9)
    np.testing.assert_allclose(misty, 0.1 * 0.6 + 0.4 * 0.9, rtol=1e-6)
    np.testing.assert_array_equal(add_rain(dark, seed=2), add_rain(dark, seed=2, width=1, veil=0.0))
    with pytest.raises(ImageInputError, match="width"):
        add_rain(dark, width=0)


def test_haze_follows_the_scattering_model_on_a_random_depth():
    """``I = J t + A (1 - t)``, ``t = exp(-beta d)``: on a black photo the haze is ``A (1 - t)`` per channel; the random
    depth is seeded, lies in [near, 1] and grows towards the top; layered depth has 2-4 flat layers."""
    from monai_d3gm.physics.weather import add_haze, random_depth

    depth = random_depth((40, 30), 7, near=0.3)
    np.testing.assert_array_equal(depth, random_depth((40, 30), 7, near=0.3))
    assert depth.shape == (40, 30) and depth.min() == pytest.approx(0.3) and depth.max() == pytest.approx(1.0)
    assert depth[:10].mean() > depth[-10:].mean()  # farther at the top
    assert 2 <= len(np.unique(random_depth((40, 30), 7, layered=True))) <= 4
    black = np.zeros((3, 40, 30), np.float32)
    hazy = add_haze(black, beta=1.2, airlight=(0.9, 0.8, 0.7), depth=depth)
    expected = np.array([0.9, 0.8, 0.7], np.float32)[:, None, None] * (1 - np.exp(-1.2 * depth))[None]
    np.testing.assert_allclose(hazy, expected, rtol=1e-5)
    flat = np.full((3, 40, 30), 0.2, np.float32)
    ramp = np.broadcast_to(np.linspace(1.0, 0.2, 40, dtype=np.float32)[:, None], (40, 30))
    np.testing.assert_array_equal(add_haze(flat), add_haze(flat, 0.8, 0.85, ramp))  # the default: the old haze
    with pytest.raises(ImageInputError, match="depth"):
        add_haze(flat, depth=depth[:20])
    with pytest.raises(ImageInputError, match="airlight"):
        add_haze(flat, airlight=(0.9, 0.8))
    with pytest.raises(ImageInputError, match="near"):
        random_depth((4, 4), near=2.0)
    # the random haze is light on about half of the photos (beta < 0.8) and dense on the others
    haze = RandSyntheticDegradation("haze", prob=1.0).set_random_state(0)
    betas = []
    for _ in range(100):
        haze.randomize()
        betas.append(haze._params["beta"])
    assert 30 < sum(b < 0.8 for b in betas) < 70 and max(betas) > 2.0


def test_clean_photos_join_the_pairs_and_are_always_degraded(tmp_path):
    """``clean_dirs``: each clean photo is an item flagged ``clean_only``, which the synthetic degradation always
    degrades (real pairs only with ``prob``)."""
    _save_pair(tmp_path / "pairs", "1")
    (tmp_path / "clean").mkdir()
    write_rgb(tmp_path / "clean" / "a.png", np.random.default_rng(1).random((3, 24, 24)).astype(np.float32))
    ds = PairedImageDataset(tmp_path / "pairs", repeats=2, clean_dirs=[tmp_path / "clean"], clean_repeats=3)
    assert len(ds) == 2 + 3 and [item["name"] for item in ds.data].count("a") == 3
    clean_item = next(item for item in ds.data if item.get("clean_only"))
    d = {k: v.astype(np.float32) / 255 if isinstance(v, np.ndarray) else v for k, v in clean_item.items()}
    out = RandSyntheticDegradationd(prob=0.0).set_random_state(0)(d)
    assert not np.array_equal(out["mu"], d["target"])  # degraded although prob is 0
    real = {k: v.astype(np.float32) / 255 if isinstance(v, np.ndarray) else v for k, v in ds.data[0].items()}
    assert RandSyntheticDegradationd(prob=0.0)(real)["mu"] is real["mu"]


def test_clean_prob_gives_undegraded_pairs_and_keeps_the_old_streams_at_zero(tmp_path):
    """``clean_prob``: that share of the items (clean photos too) comes out with input = target; at 0 the transform
    draws exactly what it drew before the option existed."""
    clean = np.random.default_rng(0).random((3, 16, 16)).astype(np.float32)
    item = {"mu": clean, "target": clean, "clean_only": True}
    always = RandSyntheticDegradationd(clean_prob=1.0).set_random_state(0)
    np.testing.assert_array_equal(always(item)["mu"], clean)
    plain, zero = RandSyntheticDegradationd().set_random_state(3), RandSyntheticDegradationd(clean_prob=0.0)
    zero.set_random_state(3)
    for _ in range(3):
        np.testing.assert_array_equal(plain(item)["mu"], zero(item)["mu"])
    some = RandSyntheticDegradationd(clean_prob=0.3).set_random_state(1)
    undegraded = [np.array_equal(some(item)["mu"], clean) for _ in range(200)]
    assert 40 <= sum(undegraded) <= 80  # about 30 % of 200
    with pytest.raises(D3GMInputError, match="prob"):
        RandSyntheticDegradationd(clean_prob=1.5)


def test_photo_validation_cases_and_validator(tmp_path):
    """Validation scores the same images every time: named real pairs and seeded synthetic rain on clean photos."""
    import torch

    from monai_d3gm.apps.restoration.validation import PhotoValidator, photo_validation_cases
    from monai_d3gm.inferers import D3GMInferer
    from monai_d3gm.networks.nets import ScoreNAFNet
    from monai_d3gm.networks.schedulers import D3GMScheduler

    _save_pair(tmp_path / "pairs", "1")
    (tmp_path / "clean").mkdir()
    write_rgb(tmp_path / "clean" / "a.png", np.random.default_rng(1).random((3, 24, 24)).astype(np.float32))
    cases = photo_validation_cases([tmp_path / "pairs"], ["1"], [tmp_path / "clean"])
    again = photo_validation_cases([tmp_path / "pairs"], ["1"], [tmp_path / "clean"])
    assert [c["name"] for c in cases] == ["1", "synthetic_a"]
    np.testing.assert_array_equal(cases[1]["input"], again[1]["input"])
    with pytest.raises(ImageInputError, match="not pairs"):
        photo_validation_cases([tmp_path / "pairs"], ["9"])
    # further draws per clean photo (the calibration's): the first is validation's, the others differ
    drawn = photo_validation_cases([tmp_path / "pairs"], ["1"], [tmp_path / "clean"], draws=3)
    assert [c["name"] for c in drawn] == ["1", "synthetic_a", "synthetic_a_1", "synthetic_a_2"]
    np.testing.assert_array_equal(drawn[1]["input"], cases[1]["input"])
    assert not np.array_equal(drawn[2]["input"], drawn[3]["input"])
    torch.manual_seed(0)
    net = ScoreNAFNet(2, 3, width=4, enc_blk_nums=(1,), middle_blk_num=1, dec_blk_nums=(1,))
    validator = PhotoValidator(cases, D3GMInferer(D3GMScheduler(prediction_type="residual"), progress=False),
                               num_inference_steps=2)  # fmt: skip
    net.train()
    first, second = validator(net), validator(net)
    assert first == second and net.training  # deterministic, and the network's mode is restored
    assert set(first) == {"psnr", "ssim", "input_psnr", "input_ssim"}

    # the clean photos unchanged: scored with the others (PSNR capped), and the mean split by kind of input
    with_clean = photo_validation_cases([tmp_path / "pairs"], ["1"], [tmp_path / "clean"], unchanged=True)
    assert [c["name"] for c in with_clean] == ["1", "synthetic_a", "clean_a"]
    assert with_clean[2]["input"] is with_clean[2]["reference"]
    validator = PhotoValidator(with_clean, D3GMInferer(D3GMScheduler(prediction_type="residual"), progress=False),
                               num_inference_steps=2)  # fmt: skip
    scores = validator(net)
    assert set(scores) == {"psnr", "ssim", "input_psnr", "input_ssim", "psnr_degraded", "psnr_clean"}
    assert scores["psnr"] == pytest.approx((2 * scores["psnr_degraded"] + scores["psnr_clean"]) / 3)
    assert scores["psnr_degraded"] == pytest.approx(first["psnr"])
    assert scores["input_psnr"] == pytest.approx((2 * first["input_psnr"] + 50) / 3)  # the clean input counts 50 dB
