from .csra_neck import CSRANeck
from .ldr_neck import LDRNeck, sine_position_encoding
from .tokens import backbone_extra_tokens, to_feature_map, tokens_to_map

__all__ = [
    'CSRANeck', 'LDRNeck', 'sine_position_encoding', 'backbone_extra_tokens',
    'to_feature_map', 'tokens_to_map'
]
