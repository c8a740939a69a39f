"""The error of bad annotation input, shared by the dataset modules."""


class AnnotationError(ValueError):
    """Inconsistent annotation input (the message names file and row)."""
