from .class_check_hook import ClassConsistencyHook, check_model_classes
from .rng_state_hook import TrainRNGStateHook

__all__ = ['ClassConsistencyHook', 'check_model_classes', 'TrainRNGStateHook']
from .finite_check_hook import FiniteLossCheckHook, NonFiniteLossError  # noqa

__all__ += ['FiniteLossCheckHook', 'NonFiniteLossError']
from .gaussian_reconstruction_hook import GaussianReconstructionHook  # noqa

__all__ += ['GaussianReconstructionHook']
from .class_frequency_hook import (ClassFrequencyHook,  # noqa: E402
                                   dataset_class_frequencies)

__all__ += ['ClassFrequencyHook', 'dataset_class_frequencies']
from .version_hook import VersionInfoHook, package_versions  # noqa: E402

__all__ += ['VersionInfoHook', 'package_versions']
