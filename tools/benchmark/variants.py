"""Parameter ablations: a config file plus values, ``CONFIG.py@NAME=VALUE``.

A sweep point is no file of its own: the suite runs the config with the
values set (``configs/ldrnet/ldr_r18_demo_stage2_paper.py@alpha=0.3``; several
values joined by commas) and names its row and run folder
``ldr_r18_demo_stage2_paper@alpha=0.3``. ``NAME`` is one of
:data:`PARAMETERS` (the settings the ablations vary) or a dotted config key as
``--cfg-options`` takes it; ``VALUE`` is a Python literal (``0.3``, ``1e-4``,
``True``) or else a string (``natural``). Structural ablations (other
modules, another stage 1) stay files in ``configs/ablations/``.
"""
import ast
import re
from typing import Dict, List, Tuple

#: Short names of the settings the parameter ablations vary -> the config
#: keys each sets (all of them to the value).
PARAMETERS = {
    # the virtual-label sampler of stage 2 (paper Eq. 12, Table 6, Fig. 3a)
    'alpha': ('train_cfg.sampler.alpha', ),
    'sampler': ('train_cfg.sampler.mode', ),
    # q of the E-step's generalized cross-entropy (Fig. 3b)
    'q': ('model.head.loss.q', ),
    # the E-step: learning rate, iterations per round (EMTrainLoop makes the
    # checkpoint interval follow them: one per round)
    'e_lr': ('optim_wrapper.optimizer.lr', ),
    'e_iters': ('e_iters', 'train_cfg.e_iters'),
    # class statistics over augmented views of every image
    'views': ('train_cfg.stats_dataloader.views', ),
    # the M-step: the LDA head's share of the blend, its covariance
    'blend': ('train_cfg.m_solver.blend', ),
    'shrinkage': ('train_cfg.shrinkage', ),
    'pooling': ('train_cfg.m_solver.pooling', ),
}

_SPEC = re.compile(r'^(?P<path>.+\.py)@(?P<values>[^/\\]+)$')


class VariantError(ValueError):
    """A malformed ``CONFIG.py@NAME=VALUE`` argument."""


def split_spec(spec: str) -> Tuple[str, str]:
    """(config path, values text) of a spec; the text is '' for a plain
    config file (``a/b.py`` -> ``('a/b.py', '')``)."""
    m = _SPEC.match(spec)
    return (m.group('path'), m.group('values')) if m else (spec, '')


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_values(values: str, spec: str = '') -> List[Tuple[str, object]]:
    """``'alpha=0.3,sampler=natural'`` -> ``[('alpha', 0.3), ('sampler',
    'natural')]`` (scalar values; names checked)."""
    out = []
    for item in values.split(','):
        name, sep, text = item.partition('=')
        if not sep or not name or not text:
            raise VariantError(
                f'"{spec}": "{item}" is not NAME=VALUE (write CONFIG.py@'
                f'NAME=VALUE[,NAME=VALUE], NAME one of {", ".join(PARAMETERS)}'
                ' or a dotted config key)')
        if name not in PARAMETERS and '.' not in name:
            raise VariantError(
                f'"{spec}": unknown parameter "{name}"; use one of '
                f'{", ".join(PARAMETERS)} or a dotted config key such as '
                'train_cfg.sampler.alpha')
        out.append((name, _literal(text)))
    return out


def variant_options(values: str, spec: str = '') -> Dict[str, object]:
    """The ``--cfg-options``-style dict ({dotted key: value}) of a spec's
    values text ('' -> {})."""
    if not values:
        return {}
    options = {}
    for name, value in parse_values(values, spec):
        for key in PARAMETERS.get(name, (name, )):
            options[key] = value
    return options

