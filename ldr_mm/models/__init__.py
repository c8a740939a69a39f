from . import classifiers, heads, losses, necks, weight_init, wrappers
from .classifiers import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .wrappers import *  # noqa: F401,F403

__all__ = (classifiers.__all__ + heads.__all__ + losses.__all__ +
           necks.__all__ + wrappers.__all__)
