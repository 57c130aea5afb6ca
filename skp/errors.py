"""The one exception type the command-line tools turn into a clean message, and the
exit handling every command shares."""

import difflib
import errno
import signal
import sys

# An OSError with one of these is the disk's, not a bug: full, read-only, not ours.
DISK_ERRORS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.ENOTDIR)


class SkpError(Exception):
    """A user-facing error: bad input, missing data, unknown name.

    The message must say what was wrong and what to do; the CLI prints it
    without a traceback and exits non-zero.
    """


def did_you_mean(name: str, candidates) -> str:
    """A ' Did you mean ...?' suffix, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def disk_error_message(err: OSError) -> str:
    return (
        f"cannot write {err.filename or 'a file'}: {err.strerror}. Free space or point --save_dir "
        f"(or $SKP_SAVE_DIR) at a disk you can write; finished folds are kept, and the same command "
        f"resumes an unfinished fold from its last checkpoint."
    )


def user_message(err: SkpError) -> str:
    """The error's own paragraph. A DataLoader worker's error reaches the main process
    re-raised with the worker's traceback written in front of it: that is cut off."""
    text = str(err)
    if "Original Traceback" not in text:
        return text
    return text.rsplit(f"{type(err).__module__}.{type(err).__qualname__}: ", 1)[-1].strip()


def exit_status(command: str, body, interrupted: str = "run the same command again to continue.") -> int:
    """body()'s exit status for command-line tool `command`: 0 (or what it returns); 2
    after one paragraph for bad input or a disk that cannot be written; 130 after Ctrl-C,
    saying how to go on (`interrupted`). Anything else is a bug and keeps its traceback."""
    try:
        return body() or 0
    except SkpError as err:
        print(f"{command}: error: {user_message(err)}", file=sys.stderr)
        return 2
    except OSError as err:
        if err.errno not in DISK_ERRORS:
            raise
        print(f"{command}: error: {disk_error_message(err)}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, SystemExit) as err:
        if isinstance(err, SystemExit) and err.code != 1:
            raise  # argparse's --help and usage errors; Lightning ends a fit stopped by Ctrl-C with exit(1)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print(f"{command}: interrupted; {interrupted}", file=sys.stderr)
        return 130


def require(module: str, extra: str, purpose: str):
    """Import an optional dependency, or fail in one paragraph naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise SkpError(f"{purpose} needs {module}, which is not installed: pip install 'skp[{extra}]'.") from None
