"""pick.py: the digits of a number, left to right, their fragments joined."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mnist_convnet.finder import components, pick
from testbed import sheet
from tests.finder.scenes import find_number
from tests.helpers import find_digit, similarity

# --- numbers ---------------------------------------------------------------------------


def test_a_row_of_digits_is_split_left_to_right(test_digits):
    pixels, _ = test_digits
    row = sheet.row(np.random.default_rng(3), [pixels[i] for i in range(4)], 80)
    crops, boxes, count = find_number(tf.constant(sheet.encode(sheet.on_paper(row))))
    assert int(count) == 4
    boxes = boxes.numpy()
    assert (np.diff(boxes[:4, 1]) > 0).all() and (boxes[4:] == 0).all()
    for i in range(4):  # each as the finder reads it alone (on paper: not MNIST's form)
        paper = sheet.on_paper(pixels[i] / 255.0)
        alone = find_digit(tf.constant(sheet.encode(paper))).numpy()
        assert similarity(crops[i].numpy(), alone) > 0.8, i
    assert (crops.numpy()[4:] == 0).all()


def test_pieces_above_each_other_are_one_digit():
    """A "5" whose top bar is not joined to its body, beside a "1": two digits."""
    field = np.zeros((120, 220))
    field[20:28, 40:95] = 1  # the detached bar
    field[34:40, 40:48] = 1
    field[40:100, 40:48] = 1  # the stem
    field[60:68, 40:90] = 1  # the body's top
    field[60:100, 84:92] = 1  # its right side
    field[94:102, 40:90] = 1  # its bottom
    field[20:100, 150:160] = 1  # a "1"
    _, boxes, count = find_number(tf.constant(sheet.encode(sheet.on_paper(field))))
    assert int(count) == 2
    top, left = boxes.numpy()[0].tolist()[:2]
    assert abs(top - 20) <= 2 and abs(left - 40) <= 2  # the bar belongs to the first digit


def _found(mask: np.ndarray) -> components.Components:
    return components.components(tf.constant(mask))


def _kept_boxes(found: components.Components) -> list[list[int]]:
    return sorted(found.box.numpy().tolist())


def test_edge_marks_specks_and_frames_go_and_the_writing_stays():
    mask = np.zeros((200, 200), bool)
    mask[60:140, 96:104] = True  # the writing: a "1"
    mask[0:6, 10:190] = True  # a shadow along the top edge
    mask[170:172, 30:32] = True  # a speck
    mask[40:42, 70:130] = mask[158:160, 70:130] = True  # a frame around the "1"
    mask[40:160, 70:72] = mask[40:160, 128:130] = True
    kept = pick.writing_only(_found(mask))
    assert _kept_boxes(kept) == [[60, 96, 139, 103]]


def test_a_digit_alone_along_the_edge_is_kept():
    """With nothing else of 5% its size, an edge mark is what was written (a "1")."""
    mask = np.zeros((200, 200), bool)
    mask[20:180, 0:6] = True  # 80% of the side: not peeled off as a long run
    assert len(_kept_boxes(pick.writing_only(_found(mask)))) == 1


def test_columns_group_overlapping_pieces_and_fragments_join_the_nearest():
    mask = np.zeros((120, 300), bool)
    mask[20:100, 20:30] = True  # digit 0
    mask[20:58, 100:110] = mask[62:100, 102:112] = True  # digit 1: two pieces, one column
    mask[20:100, 150:160] = True  # digit 2 ...
    mask[20:26, 166:186] = True  # ... and a short fragment beside it
    mask[20:100, 240:250] = True  # digit 3
    found = _found(mask)
    group, count = pick.group_columns(found)
    by_left = dict(zip(found.box.numpy()[:, 1].tolist(), group.numpy().tolist()))
    assert int(count) == 4
    assert by_left == {20: 0, 100: 1, 102: 1, 150: 2, 166: 2, 240: 3}
