from .demo import (DEMO_CLASSES, LDRDemoDataset, generate_demo_dataset,
                   render_demo_image)

__all__ = [
    'DEMO_CLASSES', 'LDRDemoDataset', 'generate_demo_dataset',
    'render_demo_image'
]
from .base import (AnnotationError, ImageIndex,  # noqa: E402
                   MedicalMultiLabelDataset)
from .nih import NIH_CLASSES, NIHChestXray14, read_nih_metadata  # noqa: E402
from .odir import ODIR_CLASSES, ODIR5K, read_odir_annotations  # noqa: E402
from .axspa import (AXSPA_CLASSES, AxSpADataset,  # noqa: E402
                    read_axspa_annotations)
from .chexpert import CHEXPERT_CLASSES, CheXpert  # noqa: E402
from .mimic_cxr import MIMIC_CLASSES, MIMICCXRJPG  # noqa: E402
from .csv_dataset import MultiLabelCSVDataset  # noqa: E402
from .uncertain import UNCERTAIN_POLICIES  # noqa: E402
from .splits import patient_split  # noqa: E402
from .transforms import ImageLoadError, LoadMedicalImage  # noqa: E402

__all__ += [
    'AnnotationError', 'ImageIndex', 'MedicalMultiLabelDataset',
    'NIH_CLASSES', 'NIHChestXray14', 'read_nih_metadata', 'ODIR_CLASSES',
    'ODIR5K', 'read_odir_annotations', 'AXSPA_CLASSES', 'AxSpADataset',
    'read_axspa_annotations', 'CHEXPERT_CLASSES', 'CheXpert',
    'MIMIC_CLASSES', 'MIMICCXRJPG', 'MultiLabelCSVDataset',
    'UNCERTAIN_POLICIES', 'patient_split', 'ImageLoadError',
    'LoadMedicalImage'
]
