from .demo import (DEMO_CLASSES, LDRDemoDataset, generate_demo_dataset,
                   render_demo_image)

__all__ = [
    'DEMO_CLASSES', 'LDRDemoDataset', 'generate_demo_dataset',
    'render_demo_image'
]
