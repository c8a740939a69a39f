"""Multi-label inference with per-class thresholds and attention maps."""
import contextlib
import os.path as osp
import warnings
from typing import Callable, List, Optional, Sequence, Union

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.model import BaseModel
from mmengine.registry import INFERENCERS

from mmpretrain.apis import BaseInferencer
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import TRANSFORMS
from mmpretrain.structures import DataSample

from ldr_mm.evaluation.thresholds import decide_samples, fixed_decisions
from ldr_mm.visualization.attention import (attention_panels, display_scale,
                                            overlay_attention, to_rgb_uint8,
                                            write_png)
from .cam import class_activation_maps, supports_cam
from .inputs import (IMAGE_EXTENSIONS, InputItem, UnreadableImageError,
                     collect_inputs)
from ldr_mm.utils import load_strict, safe_file_name, split_dataset_cfg

from .model_loading import init_multilabel_model


def _is_loader(t) -> bool:
    name = t.get('type') if isinstance(t, dict) else type(t).__name__
    name = name if isinstance(name, str) else getattr(name, '__name__', '')
    return name.split('.')[-1].startswith('Load')


def _display_view(img: torch.Tensor) -> np.ndarray:
    """(H, W, C) view of a (C, H, W) pipeline output; BGR -> RGB."""
    view = img.numpy().transpose(1, 2, 0)
    return view[..., ::-1] if view.shape[2] == 3 else view


@contextlib.contextmanager
def _progress_bar(enabled: bool):
    """Switch MMPretrain's progress bar (``track``) off inside, if asked."""
    from mmpretrain.utils import progress
    before = progress.disable_progress_bar
    progress.disable_progress_bar = before or not enabled
    try:
        yield
    finally:
        progress.disable_progress_bar = before


def _unique_name(name: str, used: dict, stem_only: bool = True) -> str:
    """A safe file name for ``name`` (its stem unless ``stem_only=False``,
    see :func:`~ldr_mm.utils.safe_file_name`), numbered if ``used`` has it
    already; ``used`` records it."""
    if stem_only:
        name = osp.splitext(osp.basename(name))[0]
    stem = safe_file_name(name, 'image')
    out, n = stem, used.get(stem, 0)
    while out in used:
        n += 1
        out = f'{stem}_{n}'
    used[stem] = n
    used[out] = 0
    return out


class MultiLabelResults(list):
    """The results of one :class:`MultiLabelInferencer` call.

    A list (one entry per readable image) that also says what happened to
    the other inputs.

    Attributes:
        skipped (list[tuple[str, str]]): Unreadable images that were skipped,
            as (path, reason).
        ignored (list[str]): Files in folders without an image extension.
        written (list[str]): Files saved for ``show_dir``.
    """

    def __init__(self, items=(), skipped=(), ignored=(), written=()):
        super().__init__(items)
        self.skipped = list(skipped)
        self.ignored = list(ignored)
        self.written = list(written or [])


class _Inputs(list):
    """The :class:`InputItem` s of a call; :meth:`MultiLabelInferencer.
    preprocess` records the skipped ones in ``skipped``."""

    def __init__(self, items):
        super().__init__(items)
        self.skipped = []


@INFERENCERS.register_module()
class MultiLabelInferencer(BaseInferencer):
    """Inference of a multi-label classifier: scores, positives, attention.

    MMPretrain's :class:`~mmpretrain.apis.ImageClassificationInferencer`
    reduces every prediction to one argmax class; a multi-label image has any
    number of findings. This inferencer returns every class's score and the
    classes whose score is ``>=`` their own threshold, and, for
    :class:`~ldr_mm.models.LDRNeck` models, each label query's attention map
    over the image tokens; for the baselines (global average pooling and a
    linear head), each class's CAM (:mod:`ldr_mm.apis.cam`), normalised the
    same way, so the two explanations can be compared.

    The weights are loaded with ``torch.load(weights_only=True)`` and
    strictly: a checkpoint whose weights or class names differ from the model
    the config builds is refused with a message naming the differences
    (:func:`~ldr_mm.apis.init_multilabel_model`).

    Images are read with the config's own test pipeline (its ``Load*``
    transform included, so e.g. 16-bit medical PNGs are decoded as in
    testing), batched and run on ``device``.

    Args:
        model (str | Config | BaseModel): A config file or object, or a model
            built by :func:`~ldr_mm.apis.init_multilabel_model`.
        pretrained (str | bool): The checkpoint. ``True`` (default) uses the
            config's ``load_from``; ``False`` keeps random weights (tests).
        device (str | torch.device, optional): Defaults to CUDA if available,
            else CPU.
        thresholds (float | Sequence[float] | dict | str, optional): One
            threshold for all classes, one per class, ``{class: thr}``, or a
            thresholds file of ``tools/misc/choose_thresholds.py`` (its
            classes must match the model's, in order; its calibration, if
            any, is applied to ``pred_scores`` before the thresholds).
            Defaults to the head's ``thr`` (0.5).
        cfg_options (dict, optional): Config overrides.

    Example:
        >>> from ldr_mm.apis import MultiLabelInferencer
        >>> infer = MultiLabelInferencer(
        ...     'configs/ldrnet/ldr_r18_demo_stage1.py', 'epoch_12.pth',
        ...     device='cpu')
        >>> res = infer('image.png', return_attention=True)[0]
        >>> res['pred_class'], res['pred_scores'].shape, res['attention'].shape
        (['opacity', 'cavity'], (10,), (10, 3, 3))
    """

    visualize_kwargs: set = {
        'show_dir', 'alpha', 'min_size', 'attention_classes',
        'per_class_files'
    }
    forward_kwargs: set = {'with_attention', 'keep_inputs'}
    postprocess_kwargs: set = {'return_attention'}

    def __init__(self,
                 model: Union[str, Config, BaseModel],
                 pretrained: Union[str, bool, None] = True,
                 device: Union[str, torch.device, None] = None,
                 thresholds=None,
                 cfg_options: Optional[dict] = None) -> None:
        if isinstance(model, BaseModel):
            if not hasattr(model, '_config'):
                raise TypeError(
                    'A model object must come from ldr_mm.apis.'
                    'init_multilabel_model (it records its config); or pass '
                    'the config path and the checkpoint instead.')
            if isinstance(pretrained, str):
                load_strict(model, pretrained, what='Checkpoint',
                            classes=(getattr(model, '_dataset_meta', None)
                                     or {}).get('classes'),
                            classes_of='the given model')
            if device is not None:
                model.to(device)
        else:
            if pretrained is True:
                cfg = model if isinstance(model, Config) else \
                    Config.fromfile(model)
                pretrained = cfg.get('load_from')
                if not pretrained:
                    raise ValueError(
                        'No checkpoint given and the config has no '
                        '`load_from`: pass the checkpoint path as the second '
                        'argument.')
            model = init_multilabel_model(
                model, pretrained or None, device=device,
                cfg_options=cfg_options)
        super().__init__(model=model, pretrained=False, device=None)

        meta = getattr(self.model, '_dataset_meta', None) or {}
        num_classes = getattr(getattr(self.model, 'head', None),
                              'num_classes', None)
        self.classes: List[str] = [str(c) for c in meta.get('classes') or (
            [str(i) for i in range(num_classes)] if num_classes else [])]
        if not self.classes:
            raise ValueError('Cannot tell the number of classes of the model')
        head_thr = getattr(getattr(self.model, 'head', None), 'thr', None)
        #: thresholds and calibration (a decision file's, or fixed ones)
        self.decisions = fixed_decisions(thresholds, self.classes,
                                         fallback=head_thr)
        self.thresholds = self.decisions.thresholds

    # ------------------------------------------------------------------ setup
    def _init_pipeline(self, cfg: Config) -> Callable:
        ds = split_dataset_cfg(cfg)
        pipeline = list((ds or {}).get('pipeline') or [])
        if not pipeline:
            raise ValueError('The config has no test (or val) dataset '
                             'pipeline to preprocess images with.')
        loaders = []
        while pipeline and _is_loader(pipeline[0]):
            loaders.append(pipeline.pop(0))
        self.load_pipeline = Compose(
            [TRANSFORMS.build(t) if isinstance(t, dict) else t
             for t in loaders]) if loaders else None
        return Compose([TRANSFORMS.build(t) if isinstance(t, dict) else t
                        for t in pipeline])

    def load_image(self, item: InputItem) -> dict:
        """Read one input into the pipeline's ``results`` dict.

        Raises:
            UnreadableImageError: The file cannot be read or decoded.
        """
        src = item.source
        if isinstance(src, np.ndarray):
            return dict(img=src, img_shape=src.shape[:2],
                        ori_shape=src.shape[:2])
        if self.load_pipeline is None:
            from mmcv.image import imread
            img = imread(src)
            if img is None:
                raise UnreadableImageError(src, 'not a decodable image')
            return dict(img=img, img_path=src, img_shape=img.shape[:2],
                        ori_shape=img.shape[:2])
        if osp.isfile(src) and osp.getsize(src) == 0:
            raise UnreadableImageError(src, 'empty file (0 bytes)')
        try:
            results = self.load_pipeline(dict(img_path=src))
        except Exception as e:  # noqa: BLE001 - any decoder failure
            msg = str(e).strip() or type(e).__name__
            raise UnreadableImageError(src, msg) from e
        if results is None or results.get('img') is None:
            raise UnreadableImageError(src, 'not a decodable image')
        return results

    def _inputs_to_list(self, inputs: '_Inputs') -> '_Inputs':
        """The inputs as :meth:`__call__` expanded them (folders and list
        files already read by :func:`collect_inputs`)."""
        return inputs

    def preprocess(self, inputs: '_Inputs', batch_size: int = 1):
        """Read, transform and collate the inputs in batches.

        An unreadable item that may be skipped (see :class:`InputItem`) is
        named in a warning and recorded in ``inputs.skipped``; the index of
        each item is kept in its data sample (``sample_idx``). A batch holds
        images of one input size, in input order: a test pipeline without a
        resize (the demo's) keeps each image's size, and a folder of mixed
        sizes would not stack.

        Yields:
            dict: Collated ``inputs`` and ``data_samples`` of a batch.
        """

        def readable():
            for idx, item in enumerate(inputs):
                try:
                    results = self.load_image(item)
                except UnreadableImageError as e:
                    if not item.skip_on_error:
                        raise
                    warnings.warn(f'Skipped: {e}')
                    inputs.skipped.append((item.name, e.reason))
                    continue
                results['sample_idx'] = idx
                data = self.pipeline(results)
                data['data_samples'].set_metainfo(
                    dict(sample_idx=idx, name=item.name))
                yield data

        def same_size_chunks():
            chunk = []
            for data in readable():
                if chunk and data['inputs'].shape != chunk[0]['inputs'].shape:
                    yield chunk
                    chunk = []
                chunk.append(data)
                if len(chunk) == batch_size:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk

        yield from map(default_collate, same_size_chunks())

    # ------------------------------------------------------------------- run
    def __call__(self,
                 inputs,
                 return_datasamples: bool = False,
                 batch_size: int = 1,
                 return_attention: bool = False,
                 show_dir: Optional[str] = None,
                 recursive: bool = False,
                 extensions: Sequence[str] = IMAGE_EXTENSIONS,
                 skip_unreadable: Optional[bool] = None,
                 progress: bool = True,
                 **kwargs) -> 'MultiLabelResults':
        """Run images through the model.

        Expands (folders, list files) and checks the inputs, then runs
        :class:`~mmpretrain.apis.BaseInferencer`'s flow: :meth:`preprocess`,
        :meth:`forward`, :meth:`visualize`, :meth:`postprocess`.

        Args:
            inputs: An image path, a folder, a ``.txt`` list of paths, a BGR
                array, or a list of these.
            return_datasamples (bool): Return :obj:`DataSample` s (with
                ``pred_label`` at this inferencer's thresholds), not dicts.
            batch_size (int): Images per forward pass. Defaults to 1.
            return_attention (bool): Also return each class's attention map
                (C, h, w) over the image tokens (sums to one per class); the
                CAM for a baseline model.
            show_dir (str, optional): Save, per image, the model's view of
                the image and attention maps (see :meth:`visualize`).
            recursive (bool): Descend into sub-folders.
            extensions (Sequence[str]): Image file endings in folders.
            skip_unreadable (bool, optional): Override the error policy (by
                default files from folders and list files are skipped with a
                warning when unreadable, single images raise).
            progress (bool): Show a progress bar.
            **kwargs: :meth:`visualize` options (``alpha``, ``min_size``,
                ``attention_classes``, ``per_class_files``).

        Returns:
            MultiLabelResults: Per readable image a dict (``img_path``,
            ``name``, ``pred_scores`` (C,) float32, ``pred_label``,
            ``pred_class``, with ``return_attention`` ``attention``
            (C, h, w)) or the data sample; and ``skipped``, ``ignored``,
            ``written``.
        """
        with_attention = return_attention or show_dir is not None
        self._check_call(batch_size, with_attention,
                         kwargs.get('attention_classes', 'predicted'))
        collected = collect_inputs(inputs, recursive=recursive,
                                   extensions=extensions,
                                   skip_unreadable=skip_unreadable)
        items = _Inputs(collected.items)
        with _progress_bar(progress):
            results = super().__call__(
                items, return_datasamples, batch_size,
                with_attention=with_attention,
                keep_inputs=show_dir is not None, show_dir=show_dir,
                return_attention=return_attention, **kwargs)
        results.skipped = list(items.skipped)
        results.ignored = list(collected.ignored)
        return results

    def _check_call(self, batch_size: int, with_attention: bool,
                    attention_classes) -> None:
        """Refuse bad arguments before any image is read."""
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        if with_attention:
            self._check_attention_support()
        if not isinstance(attention_classes, str):
            unknown = [c for c in attention_classes if c not in self.classes]
            if unknown:
                raise ValueError(f'Unknown class(es) {unknown}; the model '
                                 f'has {self.classes}')
        elif attention_classes not in ('predicted', 'all'):
            raise ValueError("attention_classes must be 'predicted', 'all' "
                             f'or a list of class names, got '
                             f'{attention_classes!r}')

    def _check_attention_support(self):
        neck = getattr(self.model, 'neck', None)
        if not hasattr(neck, 'forward_attention') and \
                not supports_cam(self.model):
            raise ValueError(
                f'The model ({type(self.model).__name__} with neck '
                f'{type(neck).__name__}) has no label-query attention and no '
                'CAM; maps need an LDRNeck model or a baseline with '
                'GlobalAveragePooling and a linear head.')

    @torch.no_grad()
    def forward(self, data: dict, with_attention: bool = False,
                keep_inputs: bool = False) -> List[DataSample]:
        """Predict a collated batch at this inferencer's thresholds.

        Args:
            data (dict): A batch of :meth:`preprocess`.
            with_attention (bool): Attach each class's attention map (C, h, w)
                as ``attention`` (see :meth:`_predict_with_attention`).
            keep_inputs (bool): Attach the model's input view of the image
                (3, H, W) as ``input_view``, for :meth:`visualize`.

        Returns:
            list[DataSample]: ``pred_score`` (C,) and ``pred_label`` (the
            classes whose score is ``>=`` their threshold).
        """
        preds = self._predict_with_attention(data) if with_attention else \
            self.model.test_step(data)
        self._apply_thresholds(preds)
        if keep_inputs:
            for pred, img in zip(preds, data['inputs']):
                pred.set_field(img.detach().cpu(), 'input_view')
        return preds

    def _predict_with_attention(self, data: dict) -> List[DataSample]:
        """Predictions plus ``attention`` with one backbone pass.

        The predictions are computed exactly as
        :meth:`ImageClassifier.predict` (backbone, neck, head) and the neck's
        :meth:`forward_attention` reuses the backbone features. A model that
        overrides ``predict`` or ``extract_feat`` is run through its own
        predict and its backbone again for the maps.
        """
        model = self.model
        data = model.data_preprocessor(data, False)
        inputs, samples = data['inputs'], data['data_samples']
        plain = (type(model).predict is ImageClassifier.predict and
                 type(model).extract_feat is ImageClassifier.extract_feat)
        if plain:
            feats = model.backbone(inputs)
            preds = model.head.predict(model.neck(feats), samples)
        else:
            preds = model._run_forward(data, mode='predict')
            feats = model.backbone(inputs)
        if hasattr(model.neck, 'forward_attention'):
            _, attn, _ = model.neck.forward_attention(feats)
        else:
            attn = class_activation_maps(model, feats)
        for pred, a in zip(preds, attn):
            pred.set_field(a.float().cpu(), 'attention')
        return preds

    def _apply_thresholds(self, preds: List[DataSample]) -> None:
        """Calibrate (when the decision file does) and threshold."""
        decide_samples(preds, self.decisions)

    # ------------------------------------------------------------ outputs
    def visualize(self, inputs: Sequence[InputItem],
                  preds: List[DataSample],
                  show_dir: Optional[str] = None,
                  alpha: float = 0.5, min_size: int = 192,
                  attention_classes: Union[str, Sequence[str]] = 'predicted',
                  per_class_files: bool = False) -> List[str]:
        """Save each image with the attention maps of the chosen classes.

        The maps are drawn over the model's input view of the image (after
        the test pipeline, kept by :meth:`forward` as ``input_view`` and
        dropped here), where they are aligned.

        Args:
            inputs (Sequence[InputItem]): The inputs of the call.
            preds (list[DataSample]): Predictions with ``attention``.
            show_dir (str, optional): Where to save; nothing is done without.
            alpha (float): Heat-map weight of the overlays.
            min_size (int): Small images are shown upscaled by an integer
                factor so their short side is at least this. Defaults to 192.
            attention_classes (str | Sequence[str]): Whose maps are drawn:
                ``'predicted'`` (the positive classes; the top-1 class,
                marked "below thr", if none), ``'all'``, or class names.
            per_class_files (bool): Also save each overlay alone, without
                caption, as ``<show_dir>/<name>/<class>.png``.

        Returns:
            list[str]: The written files.
        """
        if show_dir is None:
            return []
        names, written = {}, []
        used = {}  # a file name per class, unique, path-safe
        class_files = [_unique_name(c, used, stem_only=False)
                       for c in self.classes]
        for pred in preds:
            view = to_rgb_uint8(_display_view(pred.pop('input_view')))
            scores = pred.pred_score.float().cpu().numpy()
            chosen, note = self._chosen_classes(pred, scores,
                                                attention_classes)
            attn = pred.get('attention').numpy()
            name = _unique_name(pred.metainfo['name'], names)
            panel = attention_panels(
                view, [attn[c] for c in chosen],
                [f'{self.classes[c]} {scores[c]:.2f}{note}' for c in chosen],
                alpha=alpha, min_size=min_size)
            written.append(osp.join(show_dir, name + '.png'))
            write_png(written[-1], panel)
            if per_class_files:
                k = display_scale(view.shape[:2], min_size)
                big = view if k == 1 else cv2.resize(
                    view, (view.shape[1] * k, view.shape[0] * k),
                    interpolation=cv2.INTER_CUBIC)
                for c in chosen:
                    written.append(
                        osp.join(show_dir, name, f'{class_files[c]}.png'))
                    write_png(written[-1],
                              overlay_attention(big, attn[c], alpha))
        return written

    def _chosen_classes(self, pred: DataSample, scores: np.ndarray,
                        attention_classes) -> tuple:
        """(class indices to draw, caption note) of one prediction."""
        if attention_classes == 'all':
            return list(range(len(self.classes))), ''
        if attention_classes != 'predicted':
            return [self.classes.index(c) for c in attention_classes], ''
        chosen = pred.pred_label.cpu().tolist()
        if not chosen:
            return [int(scores.argmax())], ' (below thr)'
        return chosen, ''

    def postprocess(self, preds: List[DataSample], visualization: List[str],
                    return_datasamples: bool = False,
                    return_attention: bool = False) -> 'MultiLabelResults':
        """Results of a call (see :meth:`__call__`); ``visualization`` is the
        list of files :meth:`visualize` wrote."""
        if return_datasamples:
            return MultiLabelResults(preds, written=visualization)
        out = []
        for pred in preds:
            labels = pred.pred_label.cpu().tolist()
            res = dict(
                img_path=pred.metainfo.get('img_path'),
                name=pred.metainfo['name'],
                pred_scores=pred.pred_score.float().cpu().numpy(),
                pred_label=labels,
                pred_class=[self.classes[c] for c in labels])
            if return_attention:
                res['attention'] = pred.get('attention').numpy()
            out.append(res)
        return MultiLabelResults(out, written=visualization)

    @staticmethod
    def list_models(pattern: Optional[str] = None) -> list:
        """ldr_mm ships no pre-trained weights: there are no named models."""
        return []


def inference_multilabel_model(model, inputs, **kwargs) -> list:
    """One-call multi-label inference (MMPretrain's ``inference_model``).

    Args:
        model (BaseModel): A model from :func:`init_multilabel_model`.
        inputs: As :meth:`MultiLabelInferencer.__call__`.
        **kwargs: ``thresholds`` and any :meth:`MultiLabelInferencer.
            __call__` argument.
    """
    thresholds = kwargs.pop('thresholds', None)
    return MultiLabelInferencer(model, thresholds=thresholds)(inputs,
                                                              **kwargs)
