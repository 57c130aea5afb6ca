"""The one exception type the command-line tools turn into a clean message."""

import difflib


class SkpError(Exception):
    """A user-facing error: bad input, missing data, unknown name.

    The message must say what was wrong and what to do; the CLI prints it
    without a traceback and exits non-zero.
    """


def did_you_mean(name: str, candidates) -> str:
    """A ' Did you mean ...?' suffix, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def choose(table: dict, name: str, attribute: str):
    """table[name] for a name chosen in the config as `attribute`, or an error listing the choices."""
    if name not in table:
        none = "" if attribute.startswith("--") else " or None"  # a flag cannot be None
        raise SkpError(
            f"Unknown {attribute} {name!r}.{did_you_mean(str(name), table)} "
            f"Choose one of {', '.join(table)}{none}."
        )
    return table[name]


def call_with_params(function, args: tuple, params: dict, attribute: str):
    """function(*args, **params), turning a keyword mismatch into an error naming `attribute`."""
    try:
        return function(*args, **params)
    except TypeError as err:
        raise SkpError(f"{attribute} {params} do not fit: {err}. Fix the keys in the config.") from None
