from .ldr_classifier import LDRClassifier

__all__ = ['LDRClassifier']
