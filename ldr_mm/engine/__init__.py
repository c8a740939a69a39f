from . import hooks, runners
from .hooks import *  # noqa: F401,F403
from .runners import *  # noqa: F401,F403

__all__ = list(hooks.__all__) + list(runners.__all__)
