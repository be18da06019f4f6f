"""Mask metrics (Ego-Exo4D correspondence definitions) against hand-computed answers and skimage."""

import math

import numpy as np
import pytest
from scipy import ndimage
from skimage.morphology import disk

from egoexo_models.metrics.masks import (
    LOCATION_NORMALISER,
    boundary_f_measure,
    boundary_map,
    boundary_tolerance_px,
    box_centre,
    contour_accuracy,
    location_error,
    region_similarity,
    resize_longer_side,
    score_mask_sequence,
    translate,
)


def square(size: tuple[int, int], top: int, left: int, side: int) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    mask[top : top + side, left : left + side] = True
    return mask


def reference_f_measure(gt: np.ndarray, pred: np.ndarray, radius: int) -> float:
    """The reference formulation: dilate each boundary by skimage's disk and count matches."""
    gt_b, pred_b = boundary_map(gt), boundary_map(pred)
    precision = (pred_b & ndimage.binary_dilation(gt_b, structure=disk(radius))).sum() / pred_b.sum()
    recall = (gt_b & ndimage.binary_dilation(pred_b, structure=disk(radius))).sum() / gt_b.sum()
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def test_resize_makes_the_longer_side_480_by_nearest_neighbour():
    labels = np.random.default_rng(0).integers(0, 3, (120, 160), dtype=np.uint8)
    resized = resize_longer_side(labels)
    assert resized.shape == (360, 480)
    np.testing.assert_array_equal(resized, labels.repeat(3, axis=0).repeat(3, axis=1))


def test_resize_down_keeps_every_other_pixel_at_half_size():
    labels = np.random.default_rng(1).integers(0, 3, (2, 720, 960), dtype=np.uint8)
    np.testing.assert_array_equal(resize_longer_side(labels), labels[:, ::2, ::2])


def test_iou_of_squares_shifted_by_half_their_side_is_one_third():
    gt = square((40, 40), 10, 10, 10)
    pred = square((40, 40), 10, 15, 10)
    assert region_similarity(gt, pred) == pytest.approx(50 / 150)


def test_iou_is_one_when_both_masks_are_empty_and_zero_when_one_is():
    empty = np.zeros((8, 8), dtype=bool)
    assert region_similarity(empty, empty) == 1.0
    assert region_similarity(empty, square((8, 8), 2, 2, 3)) == 0.0
    assert region_similarity(square((8, 8), 2, 2, 3), empty) == 0.0


def test_boundary_of_a_single_pixel_includes_its_upper_left_neighbours():
    mask = np.zeros((5, 5), dtype=bool)
    mask[2, 2] = True
    expected = np.zeros((5, 5), dtype=bool)
    expected[[1, 1, 2, 2], [1, 2, 1, 2]] = True
    np.testing.assert_array_equal(boundary_map(mask), expected)


def test_the_image_border_is_not_a_boundary():
    assert not boundary_map(np.ones((6, 6), dtype=bool)).any()
    left_half = np.zeros((4, 4), dtype=bool)
    left_half[:, :2] = True
    expected = np.zeros((4, 4), dtype=bool)
    expected[:, 1] = True
    np.testing.assert_array_equal(boundary_map(left_half), expected)


def test_boundary_tolerance_is_ceil_of_0_008_times_the_diagonal():
    assert boundary_tolerance_px(480, 480) == 6  # 0.008 * 678.8 = 5.43
    assert boundary_tolerance_px(360, 480) == 5  # 0.008 * 600 = 4.8


def test_boundary_f_is_one_within_the_tolerance_and_zero_far_beyond_it():
    gt = square((480, 480), 100, 100, 100)
    assert boundary_f_measure(gt, gt) == 1.0
    assert boundary_f_measure(gt, square((480, 480), 100, 106, 100)) == 1.0
    assert boundary_f_measure(gt, square((480, 480), 300, 300, 100)) == 0.0


def test_boundary_f_agrees_with_disk_dilation_on_random_blobs():
    rng = np.random.default_rng(2)
    for _ in range(5):
        gt = ndimage.gaussian_filter(rng.random((120, 160)), 6) > 0.5
        pred = ndimage.gaussian_filter(rng.random((120, 160)), 6) > 0.5
        for radius in (1, 3, 6):
            assert boundary_f_measure(gt, pred, radius) == pytest.approx(
                reference_f_measure(gt, pred, radius)
            )


def test_boundary_f_of_empty_masks_follows_davis():
    empty = np.zeros((50, 50), dtype=bool)
    blob = square((50, 50), 10, 10, 10)
    assert boundary_f_measure(empty, empty) == 1.0
    assert boundary_f_measure(blob, empty) == 0.0
    assert boundary_f_measure(empty, blob) == 0.0


def test_box_centre_is_the_floored_middle_of_the_bounding_box():
    mask = np.zeros((20, 20), dtype=bool)
    mask[3:9, 4:8] = True  # rows 3..8, cols 4..7
    assert box_centre(mask) == (5, 5)
    assert box_centre(np.zeros((4, 4), dtype=bool)) is None


def test_translate_shifts_and_drops_what_leaves_the_frame():
    mask = square((10, 10), 0, 0, 3)
    np.testing.assert_array_equal(translate(mask, 2, 5), square((10, 10), 2, 5, 3))
    assert translate(mask, -2, 0).sum() == 3  # one row left
    assert not translate(mask, 10, 0).any()


def test_contour_accuracy_ignores_where_the_shape_is_but_not_its_shape():
    gt = square((480, 480), 50, 50, 80)
    far_away = square((480, 480), 300, 320, 80)
    assert boundary_f_measure(gt, far_away) == 0.0
    assert contour_accuracy(gt, far_away) == 1.0
    yy, xx = np.mgrid[:480, :480]
    circle = (yy - 400) ** 2 + (xx - 100) ** 2 <= 45**2
    assert 0.0 < contour_accuracy(gt, circle) < 1.0


def test_location_error_is_box_centre_distance_over_the_480_diagonal():
    gt = square((480, 480), 100, 100, 21)  # centre (110, 110)
    pred = square((480, 480), 130, 140, 21)  # centre (140, 150)
    assert location_error(gt, pred) == pytest.approx(50 / (480 * math.sqrt(2)))
    assert round(LOCATION_NORMALISER, 2) == 678.82


def test_location_error_is_undefined_when_either_mask_is_empty():
    empty = np.zeros((480, 480), dtype=bool)
    assert math.isnan(location_error(empty, square((480, 480), 1, 1, 4)))
    assert math.isnan(location_error(square((480, 480), 1, 1, 4), empty))
    assert math.isnan(location_error(empty, empty))


def test_sequence_scores_are_computed_at_480_pixels():
    gt = np.zeros((2, 240, 240), dtype=np.uint8)
    gt[:, 40:60, 40:60] = 1
    pred = np.zeros_like(gt)
    pred[:, 40:60, 55:75] = 1  # 15 px to the right at 240 px, 30 px at 480 px
    hand = score_mask_sequence(gt, pred)["hand"]
    np.testing.assert_allclose(hand.iou, 5 / 35)
    np.testing.assert_allclose(hand.location_error, 30 / LOCATION_NORMALISER)
    np.testing.assert_allclose(hand.contour_accuracy, 1.0)


def test_absent_classes_score_as_documented():
    gt = np.zeros((1, 60, 60), dtype=np.uint8)
    gt[0, 10:20, 10:20] = 1  # a hand, no object
    pred = gt.copy()
    pred[0, 40:50, 40:50] = 2  # the same hand and an object that is not there
    scores = score_mask_sequence(gt, pred)
    assert scores["hand"].iou[0] == 1.0 and scores["hand"].location_error[0] == 0.0
    assert scores["object"].iou[0] == 0.0 and scores["object"].contour_accuracy[0] == 0.0
    assert math.isnan(scores["object"].location_error[0])
    both_empty = score_mask_sequence(np.zeros_like(gt), np.zeros_like(gt))["object"]
    assert both_empty.iou[0] == 1.0 and both_empty.contour_accuracy[0] == 1.0
    assert math.isnan(both_empty.location_error[0])
    missed = score_mask_sequence(gt, np.zeros_like(gt))["hand"]
    assert missed.iou[0] == 0.0 and missed.contour_accuracy[0] == 0.0
    assert math.isnan(missed.location_error[0])


def test_hand_or_object_merges_the_two_labels():
    gt = np.zeros((1, 30, 30), dtype=np.uint8)
    gt[0, 5:10, 5:10] = 1
    gt[0, 5:10, 10:15] = 2
    pred = np.zeros_like(gt)
    pred[0, 5:10, 5:15] = 1  # object labelled as hand
    scores = score_mask_sequence(gt, pred)
    assert scores["hand_or_object"].iou[0] == 1.0
    assert scores["hand"].iou[0] == pytest.approx(0.5)
    assert scores["object"].iou[0] == 0.0


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError, match=r"\(2, 8, 8\) and \(2, 8, 9\)"):
        score_mask_sequence(np.zeros((2, 8, 8), np.uint8), np.zeros((2, 8, 9), np.uint8))
