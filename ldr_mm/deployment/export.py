"""Export a config + checkpoint as a model of probabilities (ONNX or
TorchScript) with a JSON sidecar of everything needed to use it.

The exported graph is :class:`ProbabilityModel`: a normalised image batch
(B, 3, H, W), B dynamic, H and W fixed, -> (B, C) probabilities. Loading
(DICOM / NIfTI / VOI windowing, resize, crop) and the normalisation stay
outside the graph; their constants are in the sidecar ``<out>.json``.
"""
import json
import os.path as osp
from typing import Callable, Dict, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch

#: Name of the exported graph's input and output.
INPUT_NAME = 'input'
OUTPUT_NAME = 'probabilities'
SIDECAR_FORMAT = 'ldr_mm.exported_model'
SIDECAR_VERSION = 1


def pipeline_input_size(cfg) -> Optional[Tuple[int, int]]:
    """(H, W) of the test (else val) pipeline's crop, else resize; None if
    the pipeline has neither (images keep their own size)."""
    for split in ('test', 'val'):
        ds = (cfg.get(f'{split}_dataloader') or {}).get('dataset') or {}
        steps = ds.get('pipeline') or []
        for key in ('crop_size', 'scale'):
            for t in reversed(steps):
                size = t.get(key)
                if size is not None:
                    size = [size] * 2 if isinstance(size, int) else size
                    return int(size[1]), int(size[0])  # (w, h) -> (h, w)
    return None


def preprocessing_info(cfg) -> dict:
    """Normalisation constants and loading steps the graph expects outside.

    Returns:
        dict: ``channel_order`` ('RGB' when the preprocessor swaps the
        loader's BGR, else 'BGR'), ``mean`` / ``std`` (per channel, in that
        order, on 0-255 pixels), ``pipeline`` (the test loading steps
        without ``PackInputs``).
    """
    pre = (cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor')
           or {})
    to_rgb = bool(pre.get('to_rgb', False) or pre.get('bgr_to_rgb', False))
    ds = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    steps = [dict(t) for t in ds.get('pipeline') or []
             if t.get('type') != 'PackInputs']
    mean = pre.get('mean')
    std = pre.get('std')
    return dict(
        channel_order='RGB' if to_rgb else 'BGR',
        mean=None if mean is None else [float(v) for v in mean],
        std=None if std is None else [float(v) for v in std],
        formula='input = (pixel[channel_order] - mean) / std, pixels 0-255 '
        'as the pipeline loads them',
        pipeline=json.loads(json.dumps(steps, default=str)))


def _require(*packages: str) -> None:
    """One line naming the missing packages and how to install them."""
    import importlib.util
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    if missing:
        raise ImportError(
            f'ONNX export needs {", ".join(missing)}: pip install -r '
            'requirements/tests.txt (onnx, onnxscript, onnxruntime)')


def export_onnx(module: torch.nn.Module, example: torch.Tensor,
                path: str) -> None:
    """ONNX through ``torch.onnx.export`` (dynamo), batch axis dynamic."""
    _require('onnx', 'onnxscript')
    import onnx
    batch = torch.export.Dim('batch', min=1)
    torch.onnx.export(module, (example, ), path, input_names=[INPUT_NAME],
                      output_names=[OUTPUT_NAME], dynamo=True,
                      dynamic_shapes={'inputs': {0: batch}},
                      external_data=False)
    onnx.checker.check_model(onnx.load(path))


def run_onnx(path: str, inputs: np.ndarray) -> np.ndarray:
    """Run an exported ONNX file with onnxruntime (CPU)."""
    _require('onnxruntime')
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return session.run([OUTPUT_NAME], {INPUT_NAME: inputs})[0]


def export_torchscript(module: torch.nn.Module, example: torch.Tensor,
                       path: str) -> None:
    """TorchScript by tracing (the forward has no data-dependent branch)."""
    traced = torch.jit.trace(module, example, check_trace=False)
    traced.save(path)


def run_torchscript(path: str, inputs: np.ndarray) -> np.ndarray:
    """Run a TorchScript file on CPU."""
    module = torch.jit.load(path, map_location='cpu')
    with torch.no_grad():
        return module(torch.from_numpy(inputs)).numpy()


class Exporter(NamedTuple):
    export: Callable[[torch.nn.Module, torch.Tensor, str], None]
    run: Callable[[str, np.ndarray], np.ndarray]
    versions: Tuple[str, ...]  # packages whose versions the sidecar records


#: ``--format`` name -> how to write and run it.
EXPORTERS: Dict[str, Exporter] = {
    'onnx': Exporter(export_onnx, run_onnx,
                     ('onnx', 'onnxruntime', 'onnxscript')),
    'torchscript': Exporter(export_torchscript, run_torchscript, ()),
}


def _versions(extra: Sequence[str]) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    from ldr_mm.engine.hooks import package_versions
    out = package_versions()
    for name in extra:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def check_export(module, exporter: Exporter, path: str, shape,
                 batch_sizes=(1, 3), seed: int = 0) -> float:
    """Largest |exported - PyTorch| probability on random normal batches."""
    g = torch.Generator().manual_seed(seed)
    worst = 0.0
    for b in batch_sizes:
        x = torch.randn(b, 3, *shape, generator=g)
        with torch.no_grad():
            ref = module(x).numpy()
        out = exporter.run(path, x.numpy())
        if out.shape != ref.shape:
            raise RuntimeError(f'"{path}" returned {out.shape} for a batch '
                               f'of {b}, PyTorch {ref.shape}')
        worst = max(worst, float(np.abs(out - ref).max()))
    return worst


def _sidecar(cfg, config_name, checkpoint, fmt, out, shape, model,
             decision, check) -> dict:
    """The JSON written beside the exported file."""
    from ldr_mm.apis import model_classes
    from ldr_mm.utils.checkpoint_meta import checkpoint_summary
    classes, head, tail = model_classes(model)
    return dict(
        format=SIDECAR_FORMAT, version=SIDECAR_VERSION,
        model_file=osp.basename(out), model_format=fmt,
        input=dict(name=INPUT_NAME, shape=['batch', 3, *shape],
                   dtype='float32', **preprocessing_info(cfg)),
        output=dict(name=OUTPUT_NAME, shape=['batch', len(classes)],
                    dtype='float32',
                    meaning='probability per class: the decision file\'s '
                    'calibration of the logit, sigmoid(logit) without one'),
        classes=classes, head_classes=head, tail_classes=tail,
        thresholds=(decision.thresholds.tolist() if decision else None),
        decision_rule='positive when probability >= threshold',
        calibration=dict(
            maps=decision.calibration if decision else None,
            source=decision.path if decision else None),
        config=config_name, checkpoint=checkpoint_summary(checkpoint),
        versions=_versions(EXPORTERS[fmt].versions),
        check=dict(max_abs_diff=check, batch_sizes=[1, 3],
                   inputs='random normal'))


def export_model(config, checkpoint: str, fmt: str, out: str,
                 decision_file: Optional[str] = None,
                 shape: Optional[Tuple[int, int]] = None,
                 cfg_options: Optional[dict] = None) -> dict:
    """Build, load (strictly), wrap, export, check and describe a model.

    Args:
        config (str | Config): The training config.
        checkpoint (str): Its checkpoint (loaded by
            :func:`~ldr_mm.apis.init_multilabel_model`: weights-only,
            strict keys / shapes / classes).
        fmt (str): A key of :data:`EXPORTERS`.
        out (str): The model file; the sidecar is ``out + '.json'``.
        decision_file (str, optional): Decision file (thresholds and
            calibration; :func:`~ldr_mm.evaluation.load_decision_file`).
        shape (tuple, optional): (H, W); default: the test pipeline's.
        cfg_options (dict, optional): Config overrides.

    Returns:
        dict: The sidecar's content.
    """
    from mmengine.config import Config

    from ldr_mm.apis import init_multilabel_model, model_classes
    from ldr_mm.evaluation import load_decision_file
    from ldr_mm.utils import atomic_write
    from .patches import export_patches
    from .probability_model import ProbabilityModel
    if fmt not in EXPORTERS:
        raise ValueError(f'format must be one of {sorted(EXPORTERS)}, got '
                         f'{fmt!r}')
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    shape = tuple(shape) if shape else pipeline_input_size(cfg)
    if shape is None:
        raise ValueError('The test pipeline has no crop or resize, so the '
                         'input size is not fixed by the config: give '
                         '--shape H W')
    model = init_multilabel_model(cfg, checkpoint, device='cpu')
    decision = (load_decision_file(decision_file, model_classes(model)[0])
                if decision_file else None)
    module = ProbabilityModel(
        model, decision.calibration if decision else None).eval()
    exporter = EXPORTERS[fmt]
    with torch.no_grad(), export_patches():
        exporter.export(module, torch.zeros(2, 3, *shape), out)
    check = check_export(module, exporter, out, shape)
    name = config if isinstance(config, str) else None
    info = _sidecar(cfg, name, checkpoint, fmt, out, shape, model, decision,
                    check)
    with atomic_write(out + '.json') as f:
        json.dump(info, f, indent=1)
    return info
