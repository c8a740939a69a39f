from .demo import (DEMO_CLASSES, LDRDemoDataset, generate_demo_dataset,
                   render_demo_image)
from .base import AnnotationError, ImageIndex, MedicalMultiLabelDataset
from .nih import NIH_CLASSES, NIHChestXray14, read_nih_metadata
from .odir import ODIR_CLASSES, ODIR5K, read_odir_annotations
from .axspa import AXSPA_CLASSES, AxSpADataset, read_axspa_annotations
from .splits import patient_split
from .transforms import ImageLoadError, LoadMedicalImage

__all__ = [
    'DEMO_CLASSES', 'LDRDemoDataset', 'generate_demo_dataset',
    'render_demo_image', 'AnnotationError', 'ImageIndex',
    'MedicalMultiLabelDataset', 'NIH_CLASSES', 'NIHChestXray14',
    'read_nih_metadata', 'ODIR_CLASSES', 'ODIR5K', 'read_odir_annotations',
    'AXSPA_CLASSES', 'AxSpADataset', 'read_axspa_annotations',
    'patient_split', 'ImageLoadError', 'LoadMedicalImage'
]
