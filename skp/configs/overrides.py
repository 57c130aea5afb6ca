"""Command-line overrides of config attributes, as the seed's README defines them.

`--key value`, `--key=value`, `--dict.key value`; `True`/`False` for bools;
lists, tuples and dicts in Python literal syntax; `None` for any attribute.
Values are coerced to the type of the attribute they replace, and only
attributes the config (or the base Config) defines can be overridden.
"""

from __future__ import annotations

import ast

from skp.errors import SkpError, did_you_mean


def parse_override_tokens(tokens) -> list[tuple[str, str]]:
    """['--a', '1', '--b=2'] -> [('a', '1'), ('b', '2')]."""
    pairs, tokens, i = [], list(tokens), 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or len(token) == 2:
            raise SkpError(
                f"Unexpected argument {token!r}: config overrides are written "
                f"'--attribute value' or '--attribute=value'."
            )
        key, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 >= len(tokens) or tokens[i + 1].startswith("--"):
                raise SkpError(
                    f"Override --{key} has no value. Write '--{key} VALUE' "
                    f"(booleans as True or False)."
                )
            value, i = tokens[i + 1], i + 1
        pairs.append((key, value))
        i += 1
    return pairs


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def coerce(key: str, text, current):
    """`text` converted to the type of `current`; SkpError naming key, value and type."""
    if not isinstance(text, str):
        return text  # already a Python value (e.g. from a tuning trial)
    if text == "None":
        return None
    kind = type(current)

    def fail(hint=""):
        raise SkpError(
            f"Cannot set --{key} to {text!r}: the config's value {current!r} is a "
            f"{kind.__name__}{hint}."
        )

    if current is None:
        return _literal(text)
    if kind is bool:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        fail(", so write True or False")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            fail(", so write a whole number")
    if kind is float:
        try:
            return float(text)
        except ValueError:
            fail(", so write a number such as 0.001 or 1e-3")
    if kind is str:
        # a setting that is a name or a list (cfg.windows: "header" or [(40, 400)]) takes either
        value = _literal(text)
        return value if isinstance(value, (list, tuple, dict)) else text
    if kind in (list, tuple, dict):
        value = _literal(text)
        if kind in (list, tuple) and isinstance(value, (list, tuple)):
            return kind(value)
        if isinstance(value, kind):
            return value
        fail(f", so write a Python literal such as {'[1, 2]' if kind is list else '(1, 2)' if kind is tuple else '{1: 2}'}")
    raise SkpError(
        f"--{key} holds a {kind.__name__} object, which cannot be set from the command "
        f"line; change it in the config file or override the attributes it is built from."
    )


def _check_attribute(cfg, attr: str, key: str) -> None:
    if cfg.is_derived(attr):
        raise SkpError(
            f"--{key}: {attr!r} is derived from other attributes in "
            f"{cfg.config_name}; override the attributes it is computed from instead."
        )
    if not cfg.has(attr):
        raise SkpError(
            f"Unknown config attribute --{key} for {cfg.config_name}."
            f"{did_you_mean(attr, cfg.names())} Only attributes the config defines can be "
            f"overridden; add it to the config file first."
        )


def override_pairs(overrides) -> list[tuple]:
    """Command-line tokens or (key, value) pairs (as run.json keeps them), as pairs."""
    pairs = list(overrides)
    if pairs and isinstance(pairs[0], str):
        return parse_override_tokens(pairs)
    return [tuple(pair) for pair in pairs]


def apply_overrides(cfg, overrides) -> None:
    for key, text in override_pairs(overrides):
        attr, dot, sub = key.partition(".")
        _check_attribute(cfg, attr, key)
        if not dot:
            setattr(cfg, attr, coerce(key, text, getattr(cfg, attr)))
            continue
        current = getattr(cfg, attr)
        if "." in sub:
            raise SkpError(f"--{key}: nested dictionaries are not supported; override one level, --{attr}.KEY.")
        if not isinstance(current, dict):
            raise SkpError(f"--{key}: {attr!r} is a {type(current).__name__}, not a dict, so it has no key {sub!r}.")
        if sub not in current:
            raise SkpError(
                f"Unknown key --{key}: {attr} has keys {sorted(current)}.{did_you_mean(sub, current)} "
                f"Add the key to the config's dict first."
            )
        updated = dict(current)  # a new dict: the copy never shares it with other configs
        updated[sub] = coerce(key, text, current[sub])
        setattr(cfg, attr, updated)
