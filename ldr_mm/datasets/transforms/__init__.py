from .loading import ImageLoadError, LoadMedicalImage, to_three_channels

__all__ = ['ImageLoadError', 'LoadMedicalImage', 'to_three_channels']
