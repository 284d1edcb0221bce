"""reverie: learned model-based reinforcement learning on Gymnasium and PyTorch.

Importing the package registers its environments as ``reverie/<Name>-v0``.
"""

__version__ = "0.1.0"

import os as _os

# MKL's strict conditional numerical reproducibility, read when torch loads MKL: without it a matrix product's last
# bits depend on where its operands lie in memory (measured on an AVX-512 machine: TRPO's resumed run differed from
# the straight one in the 7th digit); with it they do not, at no cost measured (256x64 by 64x64: 24 us either way)
_os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

from reverie import envs as _envs

__all__ = ["__version__"]
del _envs
