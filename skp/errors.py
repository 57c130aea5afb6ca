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
