"""Pieces shared by the benchmark scripts (importable as ``bench_common``:
a script's own folder is first on ``sys.path``)."""
import torch


def random_batch(args, generator: torch.Generator) -> dict:
    """A ``train_step`` batch of random images and labels.

    Args:
        args: ``size`` (image side), ``batch`` (images) and ``classes``.
        generator (torch.Generator): The stream the values are drawn from.

    Returns:
        dict: ``inputs``, ``batch`` uint8 tensors (3, size, size), and
        ``data_samples``, each with two random labels in [0, classes).
    """
    from mmpretrain.structures import DataSample
    inputs = [torch.randint(0, 256, (3, args.size, args.size),
                            dtype=torch.uint8, generator=generator)
              for _ in range(args.batch)]
    samples = [DataSample().set_gt_label(
        torch.randint(0, args.classes, (2, ), generator=generator))
        for _ in range(args.batch)]
    return dict(inputs=inputs, data_samples=samples)
