# MIMIC-CXR-JPG 2.0.0: the 14 CheXpert observations of each study on each
# of its images, the official split (mimic-cxr-2.0.0-split.csv; 'validate'
# is val), frontal views only (ViewPosition PA or AP; views=None keeps
# all). Resize 512, crop 448 as for the paper's chest X-rays. Uncertain
# labels: U-Ignore (see chexpert_448.py). data_root = the mimic-cxr-jpg/
# 2.0.0 folder (the three metadata CSVs, .csv or .csv.gz, and files/).
_base_ = ['./chexpert_448.py']

dataset_type = 'MIMICCXRJPG'
data_root = 'data/mimic-cxr-jpg/2.0.0'

train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
