from .class_check_hook import ClassConsistencyHook, check_model_classes
from .checkpoint_hook import LDRCheckpointHook
from .class_frequency_hook import ClassFrequencyHook, dataset_class_frequencies
from .finite_check_hook import FiniteLossCheckHook, NonFiniteLossError
from .gaussian_reconstruction_hook import GaussianReconstructionHook
from .online_reconstruction_hook import OnlineReconstructionHook
from .rng_state_hook import TrainRNGStateHook
from .version_hook import VersionInfoHook, package_versions

__all__ = [
    'ClassConsistencyHook', 'check_model_classes', 'LDRCheckpointHook',
    'ClassFrequencyHook', 'dataset_class_frequencies', 'FiniteLossCheckHook', 'NonFiniteLossError',
    'GaussianReconstructionHook', 'OnlineReconstructionHook',
    'TrainRNGStateHook', 'VersionInfoHook',
    'package_versions'
]
