from .ldr_head import LDRHead

__all__ = ['LDRHead']
