from .csra_neck import CSRANeck
from .ldr_neck import LDRNeck, sine_position_encoding
from .query2label_neck import Query2LabelDecoder, Query2LabelNeck
from .tokens import backbone_extra_tokens, to_feature_map, tokens_to_map

__all__ = [
    'CSRANeck', 'LDRNeck', 'Query2LabelDecoder', 'Query2LabelNeck',
    'sine_position_encoding', 'backbone_extra_tokens', 'to_feature_map',
    'tokens_to_map'
]
