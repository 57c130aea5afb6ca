"""Subprocesses whose output goes to a file: a pipe that nobody reads while a test polls
stalls the child as soon as it holds 64 KiB of output."""

import subprocess
import tempfile


class Logged:
    """subprocess.Popen with stdout and stderr in a temporary file; communicate() reads it."""

    def __init__(self, argv, **kwargs):
        self.log = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, text=True, **kwargs)

    def communicate(self, timeout=None):
        self.process.wait(timeout=timeout)
        self.log.seek(0)
        return self.log.read(), None

    def __getattr__(self, name):
        return getattr(self.process, name)
