from .gce_loss import MultiLabelGCELoss, multilabel_gce

__all__ = ['MultiLabelGCELoss', 'multilabel_gce']
