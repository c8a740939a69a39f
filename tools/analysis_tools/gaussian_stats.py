"""Gaussian statistics of a stage-2 run: mean distances and spectra.

Stage 2 estimates, per class c and label j (1: finding present, 0: absent),
a Gaussian N(mu_c^j, Sigma_c^j) of the class-aware feature and samples
virtual features from it. The stage-2 loop writes them each round to
``<work_dir>/reconstruction/stats_round{r}.pth``, r = 1, 2, ... as the
training log counts rounds ("round 1/3"; format: the docstring of
``ldr_mm/reconstruction/statistics.py``). This tool writes::

    <out-dir>/gaussian_mean_distance.png  per class: ||mu_c^1 - mu_c^0||_2
        and the same divided by the pooled spread sqrt((tr S1 + tr S0) / 2)
        (scale-free: how far apart positives and negatives are), one bar per
        round, classes from the most to the least positives;
    <out-dir>/gaussian_cov_spectrum.png   the eigenvalues of Sigma_c^1 and
        Sigma_c^0 (largest first, log scale), one line per class, for the
        last selected round: how many directions carry the variance, and how
        much of a tail class's spectrum is only shrinkage.

    python tools/analysis_tools/gaussian_stats.py \\
        work_dirs/ldr_r18_demo_stage2 --rounds all \\
        --out-dir work_dirs/analysis

The spectrum is of the covariance that is sampled (after shrinkage and
ridge); ``--unregularised`` recovers the sample covariance S where the file
allows it (n >= 2, shrinkage < 1, full covariance).
"""
import argparse
import glob
import os.path as osp
import re

import numpy as np  # noqa: E402

REQUIRED = ('version', 'cov_type', 'counts', 'mean', 'valid')


class StatisticsFileError(ValueError):
    """A statistics file is missing, malformed, or does not fit another."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Plot per-class positive/negative mean distances and '
        'covariance spectra of the Gaussian statistics of a stage-2 run.')
    parser.add_argument('source', help='a stage-2 work dir (reads '
                        'reconstruction/stats_round*.pth) or one statistics '
                        'file')
    parser.add_argument('--rounds', nargs='+', default=['last'],
                        help='rounds to show: numbers as the training log '
                        'counts them (1 = the first round), "all" or "last" '
                        '(default)')
    parser.add_argument('--config', help='a config of the dataset, for the '
                        'head/tail classes')
    parser.add_argument('--unregularised', action='store_true',
                        help='spectrum of the sample covariance S instead of '
                        'the sampled (shrunk) Sigma')
    parser.add_argument('--out-dir', default='work_dirs/analysis',
                        help='where the PNGs go (default work_dirs/analysis)')
    parser.add_argument('--dpi', type=int, default=100)
    return parser.parse_args(argv)


def find_files(source: str, rounds) -> list:
    """[(round, path)] selected from a work dir or a single file."""
    if osp.isfile(source):
        return [(None, source)]
    if not osp.isdir(source):
        raise FileNotFoundError(f'"{source}" is neither a statistics file '
                                'nor a directory')
    folder = osp.join(source, 'reconstruction')
    if not osp.isdir(folder):
        folder = source  # the reconstruction folder itself
    found = {}
    for p in glob.glob(osp.join(folder, 'stats_round*.pth')):
        m = re.fullmatch(r'stats_round(\d+)\.pth', osp.basename(p))
        if m:
            found[int(m.group(1))] = p
    if not found:
        raise StatisticsFileError(
            f'No stats_round*.pth in "{folder}": is "{source}" the work dir '
            'of a stage-2 run that has estimated its statistics?')
    if rounds == ['all']:
        keep = sorted(found)
    elif rounds == ['last']:
        keep = [max(found)]
    else:
        try:
            keep = [int(r) for r in rounds]
        except ValueError:
            raise StatisticsFileError(
                f'--rounds takes numbers, "all" or "last", got {rounds}'
            ) from None
        missing = [r for r in keep if r not in found]
        if missing:
            raise StatisticsFileError(
                f'Round(s) {missing} not in "{folder}" (available: '
                f'{sorted(found)})')
    return [(r, found[r]) for r in keep]


def load_statistics(path: str) -> dict:
    """Read and check one statistics file (float64 numpy arrays)."""
    import torch
    try:
        data = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure
        raise StatisticsFileError(f'"{path}" could not be read as a '
                                  f'statistics file: {e}') from e
    if not isinstance(data, dict) or any(k not in data for k in REQUIRED):
        missing = [k for k in REQUIRED
                   if not isinstance(data, dict) or k not in data]
        raise StatisticsFileError(f'"{path}" is not a stage-2 statistics '
                                  f'file (missing {missing})')
    if data['version'] != 1:
        raise StatisticsFileError(f'"{path}" has format version '
                                  f'{data["version"]}; this tool reads 1')
    cov_type = data['cov_type']
    key = {'full': 'cov', 'diag': 'var'}.get(cov_type)
    if key is None or key not in data:
        raise StatisticsFileError(f'"{path}": cov_type {cov_type!r} without '
                                  'its covariance entry')
    out = dict(path=path, cov_type=cov_type)
    for k in ('counts', 'mean', 'valid', key, 'shrinkage', 'ridge'):
        if k in data:
            out[k] = np.asarray(data[k].double().numpy() if k not in (
                'counts', 'valid') else data[k].numpy())
    C, two, D = out['mean'].shape
    shapes = {'counts': (C, 2), 'valid': (C, 2),
              key: (C, 2, D, D) if key == 'cov' else (C, 2, D)}
    for k, shape in shapes.items():
        if two != 2 or tuple(out[k].shape) != shape:
            raise StatisticsFileError(
                f'"{path}": {k} has shape {tuple(out[k].shape)}, expected '
                f'{shape} for mean {tuple(out["mean"].shape)}')
    classes = data.get('classes')
    out['classes'] = [str(c) for c in classes] if classes else [
        str(i) for i in range(C)]
    if len(out['classes']) != C:
        raise StatisticsFileError(f'"{path}": {len(out["classes"])} class '
                                  f'names for {C} classes')
    out['extra'] = data.get('extra') or {}
    return out


def covariance(stats: dict, c: int, j: int, unregularised: bool = False):
    """Sigma_c^j (D, D) (or S), or its diagonal for 'diag'."""
    if stats['cov_type'] == 'diag':
        var = stats['var'][c, j]
        if unregularised and 'ridge' in stats:
            var = var - stats['ridge'][c, j]
        return np.diag(var)
    cov = stats['cov'][c, j]
    if unregularised:
        lam = stats.get('shrinkage', np.zeros((1, 2)))[c, j] if \
            'shrinkage' in stats else 0.0
        ridge = stats['ridge'][c, j] if 'ridge' in stats else 0.0
        if lam >= 1:
            return None
        off = cov / (1 - lam)
        s = off.copy()
        np.fill_diagonal(s, np.diag(cov) - ridge)
        return s
    return cov


def spectrum(stats: dict, c: int, j: int, unregularised: bool = False):
    """Eigenvalues (D,) largest first, or None if undefined."""
    if not stats['valid'][c, j]:
        return None
    if unregularised and stats['counts'][c, j] < 2:
        return None
    if stats['cov_type'] == 'diag':
        var = stats['var'][c, j] - (stats['ridge'][c, j] if (
            unregularised and 'ridge' in stats) else 0.0)
        return np.sort(var)[::-1]
    cov = covariance(stats, c, j, unregularised)
    if cov is None:
        return None
    return np.linalg.eigvalsh((cov + cov.T) / 2)[::-1]


def mean_distances(stats: dict):
    """(||mu1 - mu0|| (C,), distance / pooled spread (C,)); NaN if a label
    has no samples."""
    mu = stats['mean']
    dist = np.linalg.norm(mu[:, 1] - mu[:, 0], axis=1)
    if stats['cov_type'] == 'diag':
        tr = stats['var'].sum(-1)
    else:
        tr = np.trace(stats['cov'], axis1=-2, axis2=-1)
    spread = np.sqrt(tr.mean(1))
    ok = stats['valid'].all(1)
    dist = np.where(ok, dist, np.nan)
    with np.errstate(invalid='ignore', divide='ignore'):
        sep = np.where(ok & (spread > 0), dist / spread, np.nan)
    return dist, sep


def effective_rank(eig) -> float:
    """Participation ratio (sum l)^2 / sum l^2 of positive eigenvalues."""
    if eig is None:
        return float('nan')
    e = np.clip(eig, 0, None)
    s2 = (e**2).sum()
    return float(e.sum()**2 / s2) if s2 > 0 else float('nan')


def plot_distances(all_stats, labels, head, tail, path, dpi=100):
    from ldr_mm.visualization.plotting import (SERIES_COLORS,
                                               group_legend_handles,
                                               mark_groups, new_figure,
                                               save_figure, set_class_ticks)
    ref = all_stats[-1]
    classes = ref['classes']
    order = np.argsort(-ref['counts'][:, 1], kind='stable')
    names = [classes[i] for i in order]
    ticks = [f'{classes[i]}\nn+={int(ref["counts"][i, 1])}' for i in order]
    C, R = len(classes), len(all_stats)
    fig, axes = new_figure((max(7, 0.6 * C + 2.5), 6), dpi, nrows=2,
                           sharex=True)
    x = np.arange(C)
    width = 0.8 / R
    for ax, k, name in ((axes[0], 0, '||mu+ - mu-||_2'),
                        (axes[1], 1, '||mu+ - mu-|| / pooled spread')):
        mark_groups(ax, names, head, tail)
        for r, st in enumerate(all_stats):
            v = mean_distances(st)[k][order]
            ax.bar(x - 0.4 + width * (r + 0.5), np.nan_to_num(v, nan=0.0),
                   width, color=SERIES_COLORS[r % len(SERIES_COLORS)],
                   label=labels[r] if k == 0 else None)
            for i in np.flatnonzero(np.isnan(v)):
                ax.text(x[i] - 0.4 + width * (r + 0.5), 0, 'n/a',
                        rotation=90, fontsize=6, ha='center', va='bottom')
        ax.set_ylabel(name, fontsize=9)
        ax.grid(axis='y', alpha=0.3)
    set_class_ticks(axes[1], names, fontsize=7)
    axes[1].set_xticklabels(ticks, fontsize=7)
    axes[0].set_title('Positive vs negative class-aware feature means, '
                      'classes by positives', fontsize=10)
    handles, _ = axes[0].get_legend_handles_labels()
    fig.legend(handles=handles + group_legend_handles(head, tail),
               loc='outside lower center', ncol=min(4, R + 2), fontsize=7,
               frameon=False)
    return save_figure(fig, path)


def plot_spectra(stats, label, head, tail, path, unregularised=False,
                 dpi=100):
    from matplotlib import colormaps

    from ldr_mm.visualization.plotting import (class_group, new_figure,
                                               save_figure)
    classes = stats['classes']
    C = len(classes)
    order = np.argsort(-stats['counts'][:, 1], kind='stable')
    cmap = colormaps['viridis']
    fig, axes = new_figure((10, 4.5), dpi, ncols=2, sharey=True)
    skipped = []
    for ax, j, name in ((axes[0], 1, 'positives (finding present)'),
                        (axes[1], 0, 'negatives (finding absent)')):
        for rank, c in enumerate(order):
            eig = spectrum(stats, c, j, unregularised)
            if eig is None:
                skipped.append(f'{classes[c]}{"+" if j else "-"}')
                continue
            eig = np.clip(eig, 1e-12, None)
            # log-spaced ranks: the same curve on log-log axes, small PNG
            ranks = np.unique(np.geomspace(1, eig.size, 150).round()).astype(
                int)
            g = class_group(classes[c], head, tail)
            ax.plot(ranks, eig[ranks - 1],
                    color=cmap(rank / max(C - 1, 1)), lw=1.2,
                    ls='--' if g == 'tail' else '-',
                    label=f'{classes[c]} (n={int(stats["counts"][c, j])})')
        ax.set_yscale('log')
        ax.set_xscale('log')
        ax.set_xlabel('eigenvalue rank')
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, ncol=2 if C > 8 else 1, loc='lower left')
    axes[0].set_ylabel(('sample covariance S' if unregularised else
                        'sampled covariance Sigma') + ' eigenvalue')
    title = f'Covariance spectra per class, {label}'
    if head or tail:
        title += ' (dashed: tail classes)'
    if skipped:
        title += f'; undefined: {", ".join(skipped)}'
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def main(argv=None):
    args = parse_args(argv)
    from ldr_mm.visualization.plotting import class_group
    from ldr_mm.evaluation.report import format_table

    selected = find_files(args.source, args.rounds)
    all_stats = [load_statistics(p) for _, p in selected]
    ref = all_stats[0]
    for st in all_stats[1:]:
        if st['classes'] != ref['classes'] or \
                st['mean'].shape != ref['mean'].shape:
            raise StatisticsFileError(
                f'"{st["path"]}" ({st["mean"].shape}, {st["classes"]}) does '
                f'not match "{ref["path"]}" ({ref["mean"].shape}, '
                f'{ref["classes"]})')
    labels = [f'round {r}' if r is not None else osp.basename(p)
              for r, p in selected]
    head, tail = [], []
    if args.config:
        from ldr_mm.apis.dataset_labels import split_labels
        sl = split_labels(args.config, 'train')
        if sl.classes != ref['classes']:
            raise StatisticsFileError(
                f'The config\'s classes {sl.classes} differ from the '
                f'statistics\' {ref["classes"]}')
        head, tail = sl.head, sl.tail

    last = all_stats[-1]
    dist, sep = mean_distances(last)
    order = np.argsort(-last['counts'][:, 1], kind='stable')
    rows = []
    for c in order:
        rows.append([
            last['classes'][c], class_group(last['classes'][c], head, tail),
            int(last['counts'][c, 1]), int(last['counts'][c, 0]),
            float(dist[c]), float(sep[c]),
            effective_rank(spectrum(last, c, 1, args.unregularised)),
            effective_rank(spectrum(last, c, 0, args.unregularised))])
    print(f'Gaussian statistics, {labels[-1]} ({last["cov_type"]} '
          f'covariance, D={last["mean"].shape[-1]}):')
    print(format_table(['class', 'group', 'n+', 'n-', '||mu+ - mu-||',
                        'dist/spread', 'eff. rank+', 'eff. rank-'], rows))
    d_path = plot_distances(
        all_stats, labels, head, tail,
        osp.join(args.out_dir, 'gaussian_mean_distance.png'), args.dpi)
    s_path = plot_spectra(
        last, labels[-1], head, tail,
        osp.join(args.out_dir, 'gaussian_cov_spectrum.png'),
        args.unregularised, args.dpi)
    print(f'Wrote {d_path}\nWrote {s_path}')
    return dict(distance=d_path, spectrum=s_path, dist=dist, sep=sep,
                stats=all_stats)


if __name__ == '__main__':
    main()
