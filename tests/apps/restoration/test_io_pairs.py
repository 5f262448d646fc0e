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
from monai_d3gm.apps.restoration.transforms import LoadRGBImaged, RandSyntheticDegradationd
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
