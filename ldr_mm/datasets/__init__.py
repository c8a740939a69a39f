from .demo import (DEMO_CLASSES, LDRDemoDataset, generate_demo_dataset,
                   render_demo_image)

__all__ = [
    'DEMO_CLASSES', 'LDRDemoDataset', 'generate_demo_dataset',
    'render_demo_image'
]
from .mnist_lt import (MNIST_LT_CLASSES, MNISTLTDataset,  # noqa: E402
                       generate_mnist_lt_dataset)
from .base import (AnnotationError, ImageIndex,  # noqa: E402
                   MedicalMultiLabelDataset)
from .nih import NIH_CLASSES, NIHChestXray14, read_nih_metadata  # noqa: E402
from .odir import ODIR_CLASSES, ODIR5K, read_odir_annotations  # noqa: E402
from .axspa import (AXSPA_CLASSES, AxSpADataset,  # noqa: E402
                    read_axspa_annotations)
from .splits import patient_split  # noqa: E402
from .transforms import ImageLoadError, LoadMedicalImage  # noqa: E402

__all__ += [
    'AnnotationError', 'ImageIndex', 'MedicalMultiLabelDataset',
    'NIH_CLASSES', 'NIHChestXray14', 'read_nih_metadata', 'ODIR_CLASSES',
    'ODIR5K', 'read_odir_annotations', 'AXSPA_CLASSES', 'AxSpADataset',
    'read_axspa_annotations', 'patient_split', 'ImageLoadError',
    'LoadMedicalImage', 'MNIST_LT_CLASSES', 'MNISTLTDataset',
    'generate_mnist_lt_dataset'
]
