"""The error of an unreadable image, shared by the loaders."""


class ImageLoadError(OSError):
    """An image file is missing, empty or cannot be decoded."""
