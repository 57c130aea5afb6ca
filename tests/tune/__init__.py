def load_study(name: str):
    """The study `name` as skp-tune keeps it (its journal under SKP_STUDIES_DIR)."""
    import optuna

    from skp.tune.study import make_storage

    return optuna.load_study(study_name=name, storage=make_storage(None, name))
