import torch

from tlcompare.train.augment import augment, crop, flip, resized_crop


def _batch():
    x = torch.zeros(16, 1, 12, 12)
    x[:, :, 4:8, 4:8] = 1.0  # a bright square in the middle of each image
    return x


def test_none_is_identity():
    x = _batch()
    assert torch.equal(augment(x, "none", torch.Generator().manual_seed(0)), x)


def test_crop_translates_each_image_by_its_own_offset():
    x = _batch()
    out = crop(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    centres = [tuple(torch.nonzero(img[0] == 1).float().mean(0).tolist()) for img in out]
    assert len(set(centres)) > 3  # different shifts within one batch
    # the shift is bounded by the padding (1/8 of 12 px, rounded: 2 px)
    assert all(abs(cy - 5.5) <= 2 and abs(cx - 5.5) <= 2 for cy, cx in centres)


def test_augmentation_is_reproducible_from_its_generator():
    x = torch.rand(8, 3, 16, 16)
    for mode in ("crop", "flip", "crop_flip", "resized_crop_flip"):
        a = augment(x, mode, torch.Generator().manual_seed(5))
        b = augment(x, mode, torch.Generator().manual_seed(5))
        c = augment(x, mode, torch.Generator().manual_seed(6))
        assert torch.equal(a, b) and not torch.equal(a, c), mode


def test_flip_mirrors_some_images_exactly():
    x = torch.rand(32, 1, 6, 6)
    out = flip(x, torch.Generator().manual_seed(1))
    mirrored = [torch.equal(o, i.flip(2)) for o, i in zip(out, x, strict=True)]
    kept = [torch.equal(o, i) for o, i in zip(out, x, strict=True)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True)) and 4 < sum(mirrored) < 28


def test_resized_crop_zooms_in():
    x = _batch()
    out = resized_crop(x, torch.Generator().manual_seed(0), scale=(0.25, 0.25), ratio=(1.0, 1.0))
    assert out.shape == x.shape and (out > 0.5).sum() > (x > 0.5).sum()  # the square got bigger
