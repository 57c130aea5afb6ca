"""Fault injection and whole-file writes: the pieces the chaos harness relies on."""

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import skp
from skp.faults import ENV, MOMENTS as DOCUMENTED
from skp.files import atomic_write, remove_leftovers, temporary_name, write_text
from skp.training.runs import fold_state, write_done
from tests.chaos.harness import MOMENTS, make_schedule


def _run(code: str, fault: dict | None, tmp_path):
    env = {ENV: json.dumps({"signal": "SIGKILL", "target": "self", "mark": str(tmp_path / "fired"), **fault})} if fault else {}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, cwd=tmp_path)


def test_a_fault_fires_the_nth_time_its_moment_is_reached_and_only_once(tmp_path):
    code = "from skp.faults import reach\nfor i in range(5):\n    print(i, flush=True)\n    reach('x')\n"
    killed = _run(code, {"moment": "x", "nth": 3}, tmp_path)
    assert killed.returncode == -9 and killed.stdout.split() == ["0", "1", "2"]
    assert (tmp_path / "fired").exists()
    again = _run(code, {"moment": "x", "nth": 3}, tmp_path)  # the mark exists: it has fired for this command
    assert again.returncode == 0 and again.stdout.split() == ["0", "1", "2", "3", "4"]


def test_other_moments_and_no_fault_change_nothing(tmp_path):
    code = "from skp.faults import reach\nreach('x'); reach('y'); print('done')"
    assert _run(code, {"moment": "z", "nth": 1}, tmp_path).stdout.strip() == "done"
    assert _run(code, None, tmp_path).stdout.strip() == "done"


def test_a_write_killed_before_its_rename_leaves_the_previous_version(tmp_path):
    (tmp_path / "a.json").write_text("old")
    code = "from skp.files import write_text\nwrite_text('a.json', 'new')"
    killed = _run(code, {"moment": "write a.json", "nth": 1}, tmp_path)
    assert killed.returncode == -9
    assert (tmp_path / "a.json").read_text() == "old"
    leftovers = [p.name for p in tmp_path.iterdir() if ".tmp" in p.name]
    assert len(leftovers) == 1 and leftovers[0].startswith("a.")
    remove_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "fired"]


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    def half_then_fail(tmp):
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    try:
        atomic_write(tmp_path / "b.csv", half_then_fail)
    except OSError:
        pass
    assert list(tmp_path.iterdir()) == []


def test_temporary_names_are_unique_per_thread_and_keep_the_suffix(tmp_path):
    names = []
    thread = threading.Thread(target=lambda: names.append(temporary_name(tmp_path / "p.npz")))
    thread.start()
    thread.join()
    names.append(temporary_name(tmp_path / "p.npz"))
    assert names[0] != names[1] and all(n.suffix == ".npz" and ".tmp" in n.name for n in names)


def test_a_finished_or_resumed_fold_drops_the_leftovers_of_killed_writes(tmp_path):
    fold = tmp_path / "fold0"
    fold.mkdir()
    (fold / temporary_name(fold / "best.pt").name).write_bytes(b"half")
    write_text(fold / "oof.csv", "id\n")
    write_done(fold, {"fold": 0})
    assert sorted(p.name for p in fold.iterdir()) == ["done.json", "oof.csv"]
    assert fold_state(fold) == "done"


def test_the_schedule_is_the_seeds_and_names_only_known_moments():
    assert make_schedule(3, 5) == make_schedule(3, 5)
    assert make_schedule(3, 5) != make_schedule(4, 5)
    for phase, faults in make_schedule(7, 40).items():
        assert len(faults) == 40
        for fault in faults:
            assert fault.kind in ("moment", "timed") and fault.signal in ("SIGKILL", "SIGTERM")
            assert fault.kind == "timed" or fault.moment in MOMENTS[phase]


def test_every_moment_the_harness_schedules_is_reached_somewhere_in_skp():
    source = "\n".join(p.read_text() for p in Path(skp.__file__).parent.rglob("*.py"))
    reached = set(re.findall(r'reach\("([^"]+)"\)', source))
    assert reached == set(DOCUMENTED) - {"write <file>"}
    for moments in MOMENTS.values():
        for moment in moments:
            assert moment in reached or moment.startswith("write "), moment
