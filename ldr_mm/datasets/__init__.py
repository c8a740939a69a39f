from .demo import (DEMO_CLASSES, LDRDemoDataset, generate_demo_dataset,
                   render_demo_image)
from .mnist_lt import (MNIST_LT_CLASSES, MNISTLTDataset,
                       generate_mnist_lt_dataset)
from .base import AnnotationError, ImageIndex, MedicalMultiLabelDataset
from .nih import NIH_CLASSES, NIHChestXray14, read_nih_metadata
from .odir import ODIR_CLASSES, ODIR5K, read_odir_annotations
from .axspa import AXSPA_CLASSES, AxSpADataset, read_axspa_annotations
from .chexpert import CHEXPERT_CLASSES, CheXpert
from .mimic_cxr import MIMIC_CLASSES, MIMICCXRJPG
from .csv_dataset import MultiLabelCSVDataset
from .uncertain import UNCERTAIN_POLICIES
from .splits import (assign_splits, classes_without_positives,
                     patient_folds, patient_split, stratified_patient_split)
from .transforms import ImageLoadError, LoadMedicalImage

__all__ = [
    'DEMO_CLASSES', 'LDRDemoDataset', 'generate_demo_dataset',
    'render_demo_image', 'AnnotationError', 'ImageIndex',
    'MedicalMultiLabelDataset', 'NIH_CLASSES', 'NIHChestXray14',
    'read_nih_metadata', 'ODIR_CLASSES', 'ODIR5K', 'read_odir_annotations',
    'AXSPA_CLASSES', 'AxSpADataset', 'read_axspa_annotations',
    'CHEXPERT_CLASSES', 'CheXpert', 'MIMIC_CLASSES', 'MIMICCXRJPG',
    'MultiLabelCSVDataset', 'UNCERTAIN_POLICIES', 'patient_split',
    'ImageLoadError', 'LoadMedicalImage', 'MNIST_LT_CLASSES', 'MNISTLTDataset',
    'generate_mnist_lt_dataset', 'assign_splits', 'classes_without_positives',
    'patient_folds', 'stratified_patient_split'
]
