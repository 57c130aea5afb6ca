"""Which shipped config exercises each registered component (shared by component tests)."""

from skp.configs import list_configs, load_config


def config_using(attribute: str, name: str) -> str:
    for config in list_configs():
        if getattr(load_config(config), attribute) == name:
            return config
    raise AssertionError(f"No shipped config sets cfg.{attribute} = {name!r}; add one so it is tested end to end.")
