"""The seam measure (facert.stages.blend.seam): the feathered square's border gives today's numbers,
any soft mask's 0.5 level line gives the same measure, and a tone step under a mask is read back."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from degraded_faces import affine, with_cast

from facert.demo.samples import photo_path
from facert.stages.blend.paste import paste_faces
from facert.stages.blend.seam import Border, mask_border, pasted_border, seam_at


def photo(name: str) -> np.ndarray:
    image = cv2.imread(str(photo_path(name)))
    assert image is not None
    return image


def cast_pasted(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The photo with its face, given a colour cast, pasted back under the square mask."""
    image, matrix = photo(name), affine(name)
    crop = cv2.warpAffine(image, matrix, (512, 512), borderValue=(135, 133, 132))
    return paste_faces(image, [with_cast(crop)], [matrix], 1.0), image


def square_mask(name: str) -> np.ndarray:
    """The square mask paste-back uses for the photo's face, frame-sized (H, W) float32 [0, 1]:
    a white face pasted on black, /255."""
    image, ones = photo(name), np.full((512, 512, 3), 255, np.uint8)
    pasted = paste_faces(np.zeros_like(image), [ones], [affine(name)], 1.0)
    return pasted[:, :, 0].astype(np.float32) / 255


# Measured with the seam module before the mask path was added (d8f04cb): tone, excess, abs_step,
# points of the cast face pasted into each sample photo.
BEFORE = {
    "grace_hopper": (13.858656883239746, 15.941367149353027, -0.45644378662109375, 560),
    "astronaut": (12.94613265991211, 15.873558044433594, -0.9837417602539062, 316),
}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_the_square_path_gives_the_numbers_it_gave(name: str) -> None:
    """Same points, same samples, same float32 arithmetic: equal to float32 rounding (1e-5 of
    values of order 10; a changed point or reach moves them by 1e-2 and more)."""
    pasted, image = cast_pasted(name)
    seam = seam_at(pasted, image, pasted_border(affine(name), 512))
    tone, excess, abs_step, points = BEFORE[name]
    assert seam.points == points
    assert np.allclose([seam.tone, seam.excess, seam.abs_step], [tone, excess, abs_step], atol=1e-4)


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_the_level_line_of_the_square_mask_measures_the_same_seam(name: str) -> None:
    """The square's own mask through the generic path: its 0.5 level line runs within a pixel or
    two of the square path's points and its estimated reach within 1.5 px of ``w_edge + 2``, so
    the border's statistics agree to 5 % (measured: 1.6-3.3 %). The inner lines differ more (the
    square path's is a smaller square, the mask path's the level line moved in along its normals,
    corners included): ``inside`` agrees to 12 % (measured 4.7 and 7.7 %)."""
    pasted, image = cast_pasted(name)
    square = pasted_border(affine(name), 512)
    level = mask_border(square_mask(name))
    assert abs(level.reach - square.reach) <= 1.5
    assert abs(len(level.points) - len(square.points)) <= 0.05 * len(square.points)
    a, b = seam_at(pasted, image, square), seam_at(pasted, image, level)
    for field, share in (("tone", 0.05), ("excess", 0.05), ("inside", 0.12)):
        assert abs(getattr(a, field) - getattr(b, field)) <= share * getattr(a, field), field
    # the cast steps across the border more than across the same line inside the face
    assert a.over_inside > 3 and b.over_inside > 3


def soft_disc(shape: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    """(H, W) float32 [0, 1]: a disc feathered by a Gaussian blur (sigma 5)."""
    mask = np.zeros(shape, np.float32)
    cv2.circle(mask, centre, radius, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), 5.0)


def test_a_tone_step_under_a_soft_mask_is_read_back() -> None:
    """A face 10 levels brighter under a soft disc: the restored-minus-input step across the
    disc's border is 10 levels (within 0.6: 8-bit rounding of the blend), nothing inside the
    disc (under 0.6), and the measure is the same from a box of the mask with its offset."""
    image = photo("grace_hopper")
    mask = soft_disc(image.shape[:2], (300, 200), 90)
    brighter = np.clip(image + 10.0 * mask[:, :, None], 0, 255).round().astype(np.uint8)
    border = mask_border(mask)
    seam = seam_at(brighter, image, border)
    assert abs(seam.excess - 10) <= 0.6 and abs(seam.tone - 10) <= 0.6 and seam.inside <= 0.6
    assert abs(seam.over_inside - 10) <= 1.2
    # every 2 px along the pixel contour (8-connected: 5 % longer than the 565 px circle, measured),
    # on the circle, outward normals pointing away from the centre
    assert 565 / 2 <= len(border.points) <= 1.08 * 565 / 2
    radial = border.points - (300, 200)
    cosine = (radial * border.normals).sum(1) / np.linalg.norm(radial, axis=1)
    assert cosine.min() > 0.99
    assert np.abs(np.linalg.norm(radial, axis=1) - 90).max() <= 1.0
    box = mask_border(mask[80:330, 170:430], offset=(170, 80))
    from_box = seam_at(brighter, image, box)
    assert from_box.points == seam.points and np.allclose(
        [from_box.tone, from_box.excess, from_box.inside], [seam.tone, seam.excess, seam.inside]
    )  # to float32 rounding of the sample positions (measured 1e-5)
    unchanged = seam_at(image, image, border)
    assert unchanged.excess == unchanged.inside == unchanged.tone == 0


def test_a_mask_cut_by_the_frame_measures_only_its_own_border() -> None:
    """A disc cut by the frame's top edge: no points along the edge (nothing is blended there)."""
    mask = soft_disc((200, 300), (150, 10), 60)
    border = mask_border(mask)
    assert border.points[:, 1].min() >= 1 and (border.normals[:, 1] > 0.2).mean() > 0.6


def test_masks_without_a_border_are_refused() -> None:
    for mask in (np.zeros((50, 50)), np.ones((50, 50)), np.zeros((2, 50, 50))):
        with pytest.raises(ValueError, match="mask"):
            mask_border(mask)


def test_a_border_shifts_with_its_inner_line() -> None:
    border = pasted_border(affine("astronaut"), 512)
    assert isinstance(border.inner, Border)
    moved = border.shifted((5.0, -3.0))
    assert moved.inner is not None
    assert np.allclose(moved.inner.points - border.inner.points, (5.0, -3.0))


def parse_like_mask(name: str) -> np.ndarray:
    """A mask shaped as facexlib's parse mask (``use_parse``) is, frame-sized (H, W) float32 [0, 1]:
    a face-shaped ellipse of the 512 crop (the kept classes), blurred twice (101 px, sigma 11),
    10 px borders zeroed, warped into the frame (bicubic)."""
    crop = np.zeros((512, 512), np.float32)
    cv2.ellipse(crop, (256, 290), (165, 205), 0, 0, 360, 1.0, -1)
    for _ in range(2):
        crop = cv2.GaussianBlur(crop, (101, 101), 11)
    crop[:10], crop[-10:], crop[:, :10], crop[:, -10:] = 0, 0, 0, 0
    image = photo(name)
    inverse = cv2.invertAffineTransform(affine(name))
    return cv2.warpAffine(crop, inverse, image.shape[1::-1], flags=cv2.INTER_CUBIC)


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_a_parse_shaped_mask_is_measured_like_the_square(name: str) -> None:
    """The cast face pasted under a parse-shaped mask steps across its border as under the square
    (seam ``over_inside`` 5.4 and 7.9 levels there; here measured 9.2 and 7.3), and the photo's
    own crop pasted back under it leaves none (measured -0.81 and -0.23 levels: the crop's
    bilinear round trip blurs the face's inside, where nothing of the photo is blended in, more
    than its border)."""
    image, matrix = photo(name), affine(name)
    mask = parse_like_mask(name)[:, :, None]
    crop = cv2.warpAffine(image, matrix, (512, 512), borderValue=(135, 133, 132))
    inverse = cv2.invertAffineTransform(matrix)
    border = mask_border(mask[:, :, 0])
    seams = []
    for face in (with_cast(crop), crop):
        back = cv2.warpAffine(face, inverse, image.shape[1::-1]).astype(np.float32)
        pasted = np.rint(mask * back + (1 - mask) * image).clip(0, 255).astype(np.uint8)
        seams.append(seam_at(pasted, image, border).over_inside)
    assert seams[0] > 3.0 and seams[1] < 0.5, seams
