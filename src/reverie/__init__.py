"""reverie: learned model-based reinforcement learning on Gymnasium and PyTorch.

Importing the package registers its environments as ``reverie/<Name>-v0``.
"""

__version__ = "0.1.0"

from reverie import envs as _envs

__all__ = ["__version__"]
del _envs
