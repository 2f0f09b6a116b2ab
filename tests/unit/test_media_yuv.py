"""I420 pictures: region conversions that agree with OpenCV and FFmpeg, and touch only their box."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from lipsync.errors import InputError
from lipsync.media.yuv import Yuv420Picture, even_box, i420_from_rgb


def _planes(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """I420 planes of smooth, textured colours well inside the gamut (as faces are)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack(
        [60 + 90 * x / width, 50 + 80 * y / height, 120 + 60 * np.sin(x / 7.0 + y / 11.0)], -1
    )
    rgb += rng.normal(0, 4, rgb.shape)
    return np.asarray(cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.uint8), cv2.COLOR_RGB2YUV_I420))


def test_bt601_conversion_is_opencvs() -> None:
    planes = _planes()
    picture = Yuv420Picture(planes.copy(), "bt601")
    ours = picture.rgb((0, 0, 64, 48)).astype(int)
    assert np.abs(ours - cv2.cvtColor(planes, cv2.COLOR_YUV2RGB_I420)).max() <= 1
    rgb = cv2.cvtColor(planes, cv2.COLOR_YUV2RGB_I420)
    back = np.abs(
        i420_from_rgb(rgb, "bt601").astype(int) - cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
    )
    # Chroma is averaged from rounded RGB here: a level or two off, rarely.
    assert back.max() <= 2 and back.mean() < 0.1


@pytest.mark.parametrize(("matrix", "tag"), [("bt601", "ITU601"), ("bt709", "ITU709")])
def test_conversion_agrees_with_ffmpeg(matrix: str, tag: str) -> None:
    planes = _planes()
    frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
    theirs = frame.to_ndarray(format="rgb24", src_colorspace=tag, threads=1).astype(int)
    ours = Yuv420Picture(planes, matrix).rgb((0, 0, 64, 48)).astype(int)  # type: ignore[arg-type]
    # FFmpeg interpolates chroma where this repeats it: the same colours, edges aside.
    assert np.abs(ours - theirs).mean() < 1.5


def test_the_two_matrices_differ() -> None:
    planes = _planes()
    box = (0, 0, 64, 48)
    bt601 = Yuv420Picture(planes, "bt601").rgb(box).astype(int)
    bt709 = Yuv420Picture(planes, "bt709").rgb(box).astype(int)
    assert np.abs(bt601 - bt709).max() > 10


def test_a_region_converts_into_a_view_of_a_canvas_and_nothing_else() -> None:
    picture = Yuv420Picture(_planes(), "bt709")
    box = (10, 6, 40, 30)
    canvas = np.full((48, 64, 3), 7, np.uint8)
    view = canvas[6:30, 10:40]
    assert picture.rgb(box, out=view) is view
    assert np.array_equal(view, picture.rgb(box))
    untouched = np.ones((48, 64), bool)
    untouched[6:30, 10:40] = False
    assert (canvas[untouched] == 7).all()
    strided = np.zeros((24, 30, 6), np.uint8)[..., ::2]  # a layout OpenCV cannot write into
    assert np.array_equal(picture.rgb(box, out=strided), picture.rgb(box))
    assert np.array_equal(strided, picture.rgb(box))
    with pytest.raises(InputError, match="out must be uint8"):
        picture.rgb(box, out=np.zeros((24, 31, 3), np.uint8))


@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
def test_a_region_converted_and_pasted_back_is_kept(matrix: str) -> None:
    planes = _planes()
    picture = Yuv420Picture(planes.copy(), matrix)  # type: ignore[arg-type]
    box = (10, 6, 40, 30)
    picture.paste_rgb(box, picture.rgb(box))
    changed = np.abs(picture.planes.astype(int) - planes)
    assert changed.max() <= 1
    if matrix == "bt601":
        assert changed.max() == 0


def test_paste_changes_only_its_box() -> None:
    planes = _planes()
    picture = Yuv420Picture(planes.copy(), "bt709")
    box = (10, 6, 40, 30)
    picture.paste_rgb(box, np.full((24, 30, 3), (200, 30, 60), np.uint8))
    luma = picture.planes[:48].astype(int) - planes[:48]
    inside = np.zeros((48, 64), bool)
    inside[6:30, 10:40] = True
    assert (luma[~inside] == 0).all() and (luma[inside] != 0).mean() > 0.9
    chroma = picture.planes[48:].reshape(2, 24, 32).astype(int) - planes[48:].reshape(2, 24, 32)
    inside_chroma = np.zeros((24, 32), bool)
    inside_chroma[3:15, 5:20] = True
    assert (chroma[:, ~inside_chroma] == 0).all() and (chroma[:, inside_chroma] != 0).mean() > 0.9
    back = picture.rgb(box).astype(int)
    assert np.abs(back - (200, 30, 60)).max() <= 3  # a flat colour survives the round trip


def test_boxes_must_be_even_and_inside() -> None:
    picture = Yuv420Picture(_planes(), "bt601")
    with pytest.raises(InputError, match="even"):
        picture.rgb((1, 0, 10, 10))
    with pytest.raises(InputError, match="inside"):
        picture.rgb((0, 0, 66, 10))
    with pytest.raises(InputError, match="pixels must be"):
        picture.paste_rgb((0, 0, 10, 10), np.zeros((10, 12, 3), np.uint8))
    assert even_box((1, 3, 10, 11), 64, 48) == (0, 2, 10, 12)
    assert even_box((0, 40, 63, 47), 64, 48) == (0, 40, 64, 48)


def test_planes_of_odd_sizes_and_unknown_matrices_are_refused() -> None:
    with pytest.raises(InputError, match="even"):
        Yuv420Picture(np.zeros((45, 63), np.uint8), "bt601")
    with pytest.raises(InputError, match="matrix"):
        Yuv420Picture(_planes(), "bt2020")  # type: ignore[arg-type]


def test_a_copy_is_independent() -> None:
    picture = Yuv420Picture(_planes(), "bt601")
    copy = picture.copy()
    copy.paste_rgb((0, 0, 8, 8), np.zeros((8, 8, 3), np.uint8))
    assert not np.array_equal(copy.planes, picture.planes)
    assert copy.matrix == picture.matrix


def test_heights_that_are_not_multiples_of_four_work() -> None:
    planes = _planes(height=46)
    picture = Yuv420Picture(planes.copy(), "bt709")
    assert (picture.width, picture.height) == (64, 46)
    box = (0, 40, 64, 46)
    picture.paste_rgb(box, picture.rgb(box))
    assert np.abs(picture.planes.astype(int) - planes).max() <= 1
