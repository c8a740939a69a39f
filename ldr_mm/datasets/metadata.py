"""Dataset configs that read the annotations alone (label tools, split
checks)."""


def metadata_only(ds_cfg: dict, registry) -> dict:
    """A dataset config that reads the annotations only, not the images.

    The pipeline is emptied (no decoding) and the up-front checks that every
    image exists are switched off where the dataset has them: ``img_dir=''``
    for a dataset that searches its image folders when ``img_dir`` is None
    (NIH, ODIR-5K), ``check_files=False`` where that argument exists
    (AxSpA). So a label tool runs on the metadata file alone.
    """
    import inspect
    if 'pipeline' in ds_cfg:
        ds_cfg['pipeline'] = []
    cls = registry.get(ds_cfg['type']) if isinstance(
        ds_cfg.get('type'), str) else ds_cfg.get('type')
    if cls is None:
        return ds_cfg
    params = inspect.signature(cls.__init__).parameters
    if 'img_dir' in params and ds_cfg.get('img_dir') is None:
        ds_cfg['img_dir'] = ''
    if 'check_files' in params:
        ds_cfg['check_files'] = False
    return ds_cfg
