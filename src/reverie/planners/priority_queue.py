"""A max-priority queue over integer items ``0..n_items-1`` in flat arrays, for prioritized sweeping.

An item is queued at most once; pushing it again keeps the higher of its two priorities
(Sutton & Barto 2018, section 8.4). Compiled with numba so the planning loop stays in machine code.
"""

from typing import NamedTuple

import numpy as np

from reverie.jit import kernel


class PriorityQueue(NamedTuple):
    """priority: [n_items] heap of priorities; item: [n_items] heap of items;
    position: [n_items] where each item sits in the heap (-1 when absent); size: [1]."""

    priority: np.ndarray
    item: np.ndarray
    position: np.ndarray
    size: np.ndarray


def make_queue(n_items: int) -> PriorityQueue:
    return PriorityQueue(
        np.zeros(n_items), np.zeros(n_items, np.int64), np.full(n_items, -1, np.int64), np.zeros(1, np.int64)
    )


@kernel
def _swap(queue, i, j):
    queue.priority[i], queue.priority[j] = queue.priority[j], queue.priority[i]
    queue.item[i], queue.item[j] = queue.item[j], queue.item[i]
    queue.position[queue.item[i]] = i
    queue.position[queue.item[j]] = j


@kernel
def _sift_up(queue, i):
    while i > 0:
        parent = (i - 1) // 2
        if queue.priority[parent] >= queue.priority[i]:
            return
        _swap(queue, i, parent)
        i = parent


@kernel
def _sift_down(queue, i):
    size = queue.size[0]
    while True:
        largest, left, right = i, 2 * i + 1, 2 * i + 2
        if left < size and queue.priority[left] > queue.priority[largest]:
            largest = left
        if right < size and queue.priority[right] > queue.priority[largest]:
            largest = right
        if largest == i:
            return
        _swap(queue, i, largest)
        i = largest


@kernel
def push(queue, item, priority):
    """Queue ``item`` with ``priority``, or raise its priority if it is queued lower."""
    at = queue.position[item]
    if at >= 0:
        if priority > queue.priority[at]:
            queue.priority[at] = priority
            _sift_up(queue, at)
        return
    at = queue.size[0]
    queue.size[0] += 1
    queue.priority[at] = priority
    queue.item[at] = item
    queue.position[item] = at
    _sift_up(queue, at)


@kernel
def pop(queue):
    """Remove and return the item of highest priority (the queue must not be empty)."""
    top = queue.item[0]
    last = queue.size[0] - 1
    _swap(queue, 0, last)
    queue.size[0] = last
    queue.position[top] = -1
    _sift_down(queue, 0)
    return top
