# Runtime shared by every ldr_mm config.
custom_imports = dict(imports=['ldr_mm'], allow_failed_imports=False)
default_scope = 'mmpretrain'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook',
        interval=1,
        max_keep_ckpts=2,
        save_best='auc/mean',
        rule='greater',
        # written atomically (temporary file + rename): a crash never leaves
        # a half-written checkpoint for --resume (registered by ldr_mm)
        backend_args=dict(backend='atomic_local')),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
)

custom_hooks = [
    # model vs dataset classes (and prompt cache) checked before any step
    dict(type='ClassConsistencyHook'),
    # exact random stream across validation and --resume
    dict(type='TrainRNGStateHook'),
    # stop at the first NaN/Inf loss, naming the iteration
    dict(type='FiniteLossCheckHook'),
    # ldr_mm / MMPretrain versions in the log and in checkpoint meta
    dict(type='VersionInfoHook'),
]
# duplicate images in a split, images / patient ids shared by train, val
# and test: 'warn' (logged when training starts) or 'error'
split_overlap = 'warn'

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to gloo when no GPU is present
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
# A fixed seed by default: medical results must be reproducible.
randomness = dict(seed=0, deterministic=False)
