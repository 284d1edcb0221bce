"""A tiny random-number generator that compiled loops share and checkpoints can store.

The state is a one-element ``uint64`` array (xorshift64*, Vigna 2016), so it is passed to numba
kernels by reference, advanced in place, and saved as a plain integer: a resumed run continues the
exact stream of an uninterrupted one.
"""

import numpy as np

from reverie.jit import kernel

_MASK64 = (1 << 64) - 1


def make_rng(seed: int) -> np.ndarray:
    """Return a fresh generator state ``[1] uint64`` derived from ``seed`` by splitmix64."""
    z = (int(seed) + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    z ^= z >> 31
    return np.array([z or 1], dtype=np.uint64)  # xorshift must never hold zero


@kernel(inline=True)
def uniform(rng):
    """One float in [0, 1) from the generator state ``rng`` ([1] uint64), advanced in place."""
    x = rng[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rng[0] = x
    return ((x * np.uint64(2685821657736338717)) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@kernel(inline=True)
def randint(rng, n):
    """One integer in [0, n) from ``rng``."""
    return int(uniform(rng) * n)
