"""The chaos harness: the main job's loop killed at moments nobody chose, re-run with the
same command until it completes, then checked.

The loop (digits, tiny budgets) is the README's main job in small: a study with two
workers and a seed check, promotion of two trials with two workers, an ensemble of the
study. A seeded schedule gives each phase its faults: SIGKILL or SIGTERM, sent to the
process that reaches a named moment (`skp.faults`: an epoch's end, a file written but not
yet renamed, a promotion fold's lock, a member predicted, a trial finished but not yet
told), to skp-tune's driver, or to the whole command; or sent from outside after a random
delay to the driver, a worker or the command. With two commands at once, "the command"
is both (one process group, as on a preempted machine). Each fault gets one attempt of the phase's
command; then the command is re-run without faults until it exits 0.

Checked, after every attempt and at the end:
- nothing finished is lost or trained again: a fold with done.json keeps the same
  done.json, oof.csv and best.pt bytes through every later attempt;
- every finished fold's files load and nothing half-written is left in it (resume.ckpt,
  temporary files);
- the study holds the requested number of finished trials and none RUNNING; every
  promoted fold is finished;
- promotion's OOF files and the ensemble's submission.csv and oof.csv are byte-identical to
  an uninterrupted twin's, run from a copy of the same study (CPU training is deterministic);
- no output holds a traceback, no attempt without a fault fails, and no process of a
  command outlives it.

`run_loop(root, make_schedule(seed, faults_per_phase), data_dir)` returns a dict of everything it saw; `violations`
lists what broke a promise (empty when all held).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from skp.faults import TARGETS

STUDY = "chaos"
TRIALS = 4
PROMOTE = 2
TINY = ["--num_epochs", "2", "--limit_train_batches", "4", "--enable_progress_bar", "False"]
COMMANDS = {
    "study": ["-m", "skp.tune.cli", "digits.cfg_baseline", "--study", STUDY, "--trials", str(TRIALS), "--workers", "2",
              "--pruner", "none", "--no-export", "--confirm", "1", *TINY],
    "promotion": ["-m", "skp.tune.cli", "digits.cfg_baseline", "--study", STUDY, "--promote", str(PROMOTE), "--workers", "2"],
    "ensemble": ["-m", "skp.ensemble.cli", "--study", f"{STUDY}:{PROMOTE}", "--output", "ensemble"],
}
# moment -> the largest nth worth drawing (how often a phase reaches it, about)
MOMENTS = {
    "study": {"epoch end": 8, "write best.pt": 4, "write oof.csv": 4, "write done.json": 6, "write run.json": 4,
              "write resume.ckpt": 4, "trial end": 4},
    "promotion": {"promotion claim": 6, "epoch end": 12, "write resume.ckpt": 12, "write best.pt": 8,
                  "write oof.csv": 8, "write done.json": 6},
    "ensemble": {"predicted": 2, "write prediction cache": 12, "write blend_inputs.npz": 1, "write submission.csv": 1,
                 "write weights.json": 1},
}
SIGNALS = ("SIGKILL", "SIGKILL", "SIGTERM")  # the OOM killer twice as often as a polite stop
FINAL_TRIES = 3  # fault-free re-runs allowed to complete a phase
ATTEMPT_TIMEOUT = 900
TRACEBACK = "Traceback (most recent call last)"


@dataclass(frozen=True)
class Fault:
    phase: str
    kind: str  # "moment" (sent by the process that reaches it) or "timed" (sent from outside)
    signal: str
    target: str  # moment: self | driver | command; timed: driver | worker | command
    moment: str | None = None
    nth: int = 1
    delay: float = 0.0  # timed: seconds after the command starts

    def describe(self) -> str:
        when = f"at {self.moment!r} #{self.nth}" if self.kind == "moment" else f"after {self.delay:.1f} s"
        return f"{self.signal} to {self.target} {when}"


def make_schedule(seed: int, faults_per_phase: int, max_delay: float = 30.0) -> dict[str, list[Fault]]:
    rng = random.Random(seed)
    schedule = {}
    for phase, moments in MOMENTS.items():
        faults = []
        for _ in range(faults_per_phase):
            sent = rng.choice(SIGNALS)
            if rng.random() < 0.7:
                moment = rng.choice(sorted(moments))
                targets = [t for t in TARGETS if t != "driver"] if phase == "ensemble" else TARGETS  # skp-ensemble has no driver
                faults.append(Fault(phase, "moment", sent, rng.choice(targets), moment, rng.randint(1, moments[moment])))
            else:
                targets = ("driver", "command") if phase == "ensemble" else ("driver", "worker", "command")
                faults.append(Fault(phase, "timed", sent, rng.choice(targets), delay=round(rng.uniform(1.0, max_delay), 1)))
        schedule[phase] = faults
    return schedule


# -- processes -------------------------------------------------------------------------
def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, process group) of a live process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])


def _processes() -> dict[int, tuple[str, int, int]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
            found[int(entry.name)] = stat
    return found


def group_members(group: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    return [pid for pid, (state, _, pgid) in _processes().items() if pgid == group and state != "Z"]


def children(pid: int) -> list[int]:
    return sorted(p for p, (state, parent, _) in _processes().items() if parent == pid and state != "Z")


def send_from_outside(fault: Fault, process: subprocess.Popen, rng: random.Random) -> bool:
    """Send a timed fault; False when there was nothing to send it to."""
    sent = signal.Signals[fault.signal]
    try:
        if fault.target == "command":
            os.killpg(process.pid, sent)
        elif fault.target == "worker":
            workers = children(process.pid)
            if not workers:
                return False
            os.kill(rng.choice(workers), sent)
        else:
            os.kill(process.pid, sent)
    except ProcessLookupError:
        return False
    return True


# -- one attempt -----------------------------------------------------------------------
@dataclass
class Attempt:
    phase: str
    fault: dict | None
    fired: bool
    codes: list[int]
    seconds: float
    tracebacks: int
    orphans: int
    log: str


class Loop:
    """One run of the loop under one schedule, in `root` (made empty first)."""

    def __init__(self, root: Path, seed: int, data_dir: Path):
        self.root, self.seed, self.rng = Path(root), seed, random.Random(seed)
        self.env = {**os.environ, "SKP_DATA_DIR": str(data_dir), "SKP_SAVE_DIR": str(self.root / "experiments"),
                    "SKP_STUDIES_DIR": str(self.root / "studies"), "SKP_ENSEMBLES_DIR": str(self.root / "ensembles"),
                    "CUDA_VISIBLE_DEVICES": ""}
        self.env.pop("SKP_FAULT", None)
        self.attempts: list[Attempt] = []
        self.violations: list[str] = []
        self.incomplete: list[str] = []  # phases that never completed
        self.study_states: dict[str, int] = {}
        self.finished: dict[str, dict[str, str]] = {}  # fold dir -> file -> sha1, once finished
        self.logs = self.root.parent / f"{self.root.name}-logs"

    def attempt(self, phase: str, fault: Fault | None = None, copies: int = 1) -> Attempt:
        """The phase's command once (`copies` at the same time), with at most one fault."""
        number = len(self.attempts)
        self.logs.mkdir(parents=True, exist_ok=True)
        mark = self.logs / f"fired-{number}"
        env = dict(self.env)
        if fault is not None and fault.kind == "moment":
            env["SKP_FAULT"] = json.dumps({"moment": fault.moment, "nth": fault.nth, "signal": fault.signal,
                                           "target": fault.target, "mark": str(mark)})
        paths = [self.logs / f"attempt-{number}-{i}.log" for i in range(copies)]
        started = time.time()
        processes = []
        for path in paths:
            # one process group for every copy: "command" is everything the attempt started,
            # as a preempted machine stops every command on it
            group = {"process_group": processes[0].pid if processes else 0}
            with path.open("w") as out:
                processes.append(subprocess.Popen([sys.executable, *COMMANDS[phase]], cwd=self.root, env=env, stdout=out,
                                                  stderr=subprocess.STDOUT, **group))
        fired = fault is not None and fault.kind == "timed" and self._timed(fault, processes[0])
        codes = [p.wait(timeout=ATTEMPT_TIMEOUT) for p in processes]
        seconds = time.time() - started
        orphans = self._reap(processes)
        fired = fired or mark.exists()
        text = "\n".join(p.read_text() for p in paths)
        result = Attempt(phase, asdict(fault) if fault else None, fired, codes, round(seconds, 1), text.count(TRACEBACK), orphans,
                         " ".join(map(str, paths)))
        self.attempts.append(result)
        self._judge(result)
        self.check_finished_kept()
        return result

    def _timed(self, fault: Fault, process: subprocess.Popen) -> bool:
        """Send the fault once its delay has passed and its target exists (a worker may
        start later); False when the command ended first."""
        deadline = time.time() + fault.delay
        while process.poll() is None:
            if time.time() >= deadline and send_from_outside(fault, process, self.rng):
                return True
            time.sleep(0.1)
        return False

    def _reap(self, processes) -> int:
        """Wait (up to 60 s) for every process of the attempt to end; count those that did not."""
        deadline = time.time() + 60
        left = []
        while time.time() < deadline:
            left = group_members(processes[0].pid)
            if not left:
                return 0
            time.sleep(0.2)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        return len(left)

    def _judge(self, attempt: Attempt) -> None:
        where = f"attempt {len(self.attempts) - 1} ({attempt.phase}; {attempt.log})"
        if attempt.tracebacks:
            self.violations.append(f"{where}: a traceback in the output")
        if attempt.orphans:
            self.violations.append(f"{where}: {attempt.orphans} process(es) outlived the command")
        if not attempt.fired and any(code != 0 for code in attempt.codes):
            self.violations.append(f"{where}: exit status {attempt.codes} without a fault")
        if attempt.fired and any(code == 1 for code in attempt.codes):
            self.violations.append(f"{where}: exit status 1 (a crash, not a clean stop) after the fault")

    # -- invariants ------------------------------------------------------------------
    def finished_folds(self) -> dict[str, dict[str, str]]:
        found = {}
        for done in sorted((self.root / "experiments").rglob("done.json")):
            folder = done.parent
            found[str(folder)] = {name: _sha1(folder / name) for name in ("done.json", "oof.csv", "best.pt")}
        return found

    def check_finished_kept(self) -> None:
        now = self.finished_folds()
        for folder, files in self.finished.items():
            if now.get(folder) != files:
                self.violations.append(f"{folder}: a finished fold was lost or trained again (attempt {len(self.attempts) - 1})")
        self.finished = {**now, **self.finished}

    def check_whole(self) -> None:
        import pandas as pd
        import torch

        for folder in map(Path, self.finished_folds()):
            leftovers = [p.name for p in folder.iterdir() if ".tmp" in p.name or p.name == "resume.ckpt" or p.name.endswith(".partial")]
            if leftovers:
                self.violations.append(f"{folder}: finished, yet holds {leftovers}")
            done = json.loads((folder / "done.json").read_text())
            rows = len(pd.read_csv(folder / "oof.csv"))
            if rows != done["val_samples"]:
                self.violations.append(f"{folder}/oof.csv: {rows} rows for {done['val_samples']} validation samples")
            torch.load(folder / "best.pt", map_location="cpu", weights_only=False)

    def check_study(self) -> None:
        import optuna

        from skp.tune.promote import missing_jobs, promotion
        from skp.tune.study import make_storage

        os.environ["SKP_STUDIES_DIR"] = self.env["SKP_STUDIES_DIR"]
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        study = optuna.load_study(study_name=STUDY, storage=make_storage(None, STUDY))
        states = [t.state.name for t in study.trials]
        self.study_states = dict(Counter(states))
        if states.count("COMPLETE") != TRIALS:
            self.violations.append(f"study: {states.count('COMPLETE')} complete trials, {TRIALS} requested ({states})")
        if "RUNNING" in states:
            self.violations.append(f"study: trials left RUNNING ({states})")
        if promotion(study) is not None and missing_jobs(study):
            self.violations.append(f"promotion: folds left unfinished: {missing_jobs(study)}")

    # -- phases ----------------------------------------------------------------------
    def run_phase(self, phase: str, faults: list[Fault], copies: int = 1) -> None:
        for fault in faults:
            result = self.attempt(phase, fault, copies)
            if not result.fired and all(code == 0 for code in result.codes):
                return  # the fault's moment never came: the phase completed
        for _ in range(FINAL_TRIES):
            if all(code == 0 for code in self.attempt(phase, copies=copies).codes):
                return
        self.incomplete.append(phase)
        self.violations.append(f"{phase}: did not complete in {FINAL_TRIES} fault-free re-runs")

    def outputs(self) -> dict[str, str]:
        """sha1 of what promotion and the ensemble produce: promoted OOF files, submission, OOF blend."""
        files = {str(p.relative_to(self.root)): _sha1(p) for p in (self.root / "experiments").rglob("oof.csv")
                 if not p.parent.parent.name.endswith(tuple(f"-seed{s}" for s in range(100)))}
        for name in ("submission.csv", "oof.csv"):
            path = self.root / "ensembles" / "ensemble" / name
            files[f"ensemble/{name}"] = _sha1(path) if path.is_file() else "missing"
        return files


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() else "missing"


def _copy_state(source: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, symlinks=True)


def run_loop(root: Path, schedule: dict[str, list[Fault]], data_dir: Path, concurrent: bool = True, seed: int = 0) -> dict:
    """The loop under `schedule` (make_schedule's, or one written by hand); with
    `concurrent`, every phase runs as two identical commands at once. `seed` chooses the
    worker a timed fault hits. Returns what happened and `violations`."""
    root = Path(root)
    loop = Loop(root, seed, data_dir)
    for folder in (root, loop.logs):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    copies = 2 if concurrent else 1
    loop.run_phase("study", schedule["study"], copies)
    loop.check_study()
    # the twin: promotion and ensemble uninterrupted, from a copy of the finished study
    snapshot = root.parent / f"{root.name}-study"
    _copy_state(root, snapshot)
    twin_from, twin_seconds = len(loop.attempts), {}
    for phase in ("promotion", "ensemble"):
        started = time.time()
        loop.attempt(phase)
        twin_seconds[phase] = round(time.time() - started, 1)
    twin = loop.outputs()
    twin_attempts = len(loop.attempts)
    _copy_state(snapshot, root)  # the same paths: the study records absolute run directories
    loop.finished = loop.finished_folds()
    loop.run_phase("promotion", schedule["promotion"], copies)
    loop.run_phase("ensemble", schedule["ensemble"], copies)
    loop.check_study()
    loop.check_whole()
    chaos = loop.outputs()
    for name in sorted(set(twin) | set(chaos)):
        if twin.get(name) != chaos.get(name):
            loop.violations.append(f"{name}: differs from the uninterrupted twin's")
    shutil.rmtree(snapshot, ignore_errors=True)
    faulted = [a for i, a in enumerate(loop.attempts) if not twin_from <= i < twin_attempts]
    return {
        "seed": seed,
        "concurrent": concurrent,
        "schedule": {phase: [f.describe() for f in faults] for phase, faults in schedule.items()},
        "attempts": [asdict(a) for a in loop.attempts],
        "twin_seconds": twin_seconds,
        "chaos_seconds": {phase: round(sum(a.seconds for a in faulted if a.phase == phase), 1) for phase in COMMANDS},
        "compared_files": len(twin),
        "study_trials": loop.study_states,
        "completed": not loop.incomplete,
        "violations": loop.violations,
    }
