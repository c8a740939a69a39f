from .ldr_neck import LDRNeck, sine_position_encoding

__all__ = ['LDRNeck', 'sine_position_encoding']
