"""bench_search_efficiency.py goes on from committed journals on another machine: a dead
attempt is not counted as the strategy's compute, and a journal cut mid-line still opens.
A study the bench stopped counts no further than its stop."""

import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial

sys.path.insert(0, str(Path(__file__).parent))
from bench_search_efficiency import STOP_FILE, curve, stop, trim_partial_line, until_stopped  # noqa: E402


def trial(state, epochs: int, value=None, system_attrs=None, **user_attrs):
    return create_trial(state=state, value=value, intermediate_values={step: 1.0 for step in range(epochs)}, user_attrs=user_attrs,
                        system_attrs=system_attrs, params={}, distributions={})


def test_a_trial_whose_worker_died_and_was_queued_again_is_not_counted():
    study = optuna.create_study()
    study.add_trial(trial(TrialState.COMPLETE, 3, 0.5))
    study.add_trial(trial(TrialState.FAIL, 2, fail_reason="its worker died (process gone or no heartbeat)"))
    study.add_trial(trial(TrialState.COMPLETE, 3, 0.4, retry_of=1, retries=1))
    study.add_trial(trial(TrialState.FAIL, 1, fail_reason="not finite"))  # a failure of its own still cost its epoch
    assert [(epochs, best) for epochs, _, best in curve(study)] == [(3, 0.5), (6, 0.4), (7, 0.4)]


def test_a_journal_cut_mid_line_keeps_its_whole_lines(tmp_path):
    journal = tmp_path / "journal.log"
    journal.write_bytes(b'{"op_code": 0}\n{"op_code": 1}\n{"op_co')
    trim_partial_line(journal)
    assert journal.read_bytes() == b'{"op_code": 0}\n{"op_code": 1}\n'
    trim_partial_line(journal)
    assert journal.read_bytes() == b'{"op_code": 0}\n{"op_code": 1}\n'


def test_a_study_run_over_several_processes_adds_up_their_wall_seconds(tmp_path, monkeypatch):
    from bench_search_efficiency import WallClock

    now = [1000.0]
    monkeypatch.setattr("bench_search_efficiency.time.time", lambda: now[0])
    partial = tmp_path / "tpe-0" / "wall_seconds.partial"
    first = WallClock(partial)
    now[0] += 30.0
    first.tick()  # the last poll before its machine went away
    now[0] += 5.0
    second = WallClock(partial)  # the next machine goes on from the committed file
    now[0] += 20.0
    assert second.tick() == 50.0
    assert float(partial.read_text()) == 50.0


def test_a_retry_that_went_on_from_its_dead_attempt_counts_the_attempts_seconds():
    from datetime import datetime, timedelta

    from skp.tune.trial import HEARTBEAT

    start = datetime(2026, 12, 1, 6, 0, 0)
    study = optuna.create_study()
    dead = trial(TrialState.FAIL, 2, system_attrs={HEARTBEAT: (start + timedelta(seconds=120)).timestamp()},
                 fail_reason="its worker died (process gone or no heartbeat)")
    dead.datetime_start, dead.datetime_complete = start, start + timedelta(hours=5)  # found dead on the next machine
    study.add_trial(dead)
    retry = trial(TrialState.COMPLETE, 3, 0.4, retry_of=0, resumed_from=0)  # its epoch values include the attempt's
    retry.datetime_start, retry.datetime_complete = start + timedelta(hours=5), start + timedelta(hours=5, seconds=60)
    study.add_trial(retry)
    assert curve(study) == [(3, 180.0, 0.4)]


def test_a_study_that_ran_on_past_its_stop_counts_up_to_the_trial_that_crossed_it(tmp_path):
    points = [(10, 100.0, 0.5), (30, 300.0, 0.4), (50, 500.0, 0.3), (60, 600.0, 0.2)]
    assert until_stopped(points, tmp_path) == points  # never stopped
    (tmp_path / STOP_FILE).write_text("40")
    assert until_stopped(points, tmp_path) == points[:3]  # Ctrl-C came after the trial that ended at 50
    (tmp_path / STOP_FILE).write_text("60")
    assert until_stopped(points, tmp_path) == points


def test_a_bench_started_in_the_background_can_still_stop_its_studies():
    """`nohup ... &` starts the bench with SIGINT ignored; skp-tune, its child, must not be."""
    ignored_in_child = """
import subprocess, sys
sys.path.insert(0, {here!r})
from bench_search_efficiency import let_children_be_interrupted
{call}
status = subprocess.run(["grep", "SigIgn", "/proc/self/status"], capture_output=True, text=True).stdout
print(int(status.split()[1], 16) >> ({sigint} - 1) & 1)
"""
    for call, expected in [("", "1"), ("let_children_be_interrupted()", "0")]:
        code = ignored_in_child.format(here=str(Path(__file__).parent), call=call, sigint=int(signal.SIGINT))
        ignoring = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        assert ignoring.stdout.strip() == expected, ignoring.stderr


def test_a_study_that_ignores_ctrl_c_is_killed_after_the_grace_period(tmp_path):
    deaf = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); print(flush=True); time.sleep(60)"],
                            stdout=subprocess.PIPE)
    deaf.stdout.readline()  # SIGINT is ignored from here on
    with open(tmp_path / "log", "w") as out:
        stop(deaf, out, grace=0.5)
    assert deaf.returncode == -signal.SIGKILL
    assert "killed" in (tmp_path / "log").read_text()


def test_a_strategy_is_compared_with_what_the_unpruned_search_held_after_as_many_epochs():
    from bench_search_efficiency import best_at

    reference = [(10, 50.0, 0.5), (40, 200.0, 0.3), (70, 350.0, 0.3), (100, 500.0, 0.2)]
    assert best_at(reference, 9) is None  # no trial had ended
    assert best_at(reference, 40) == 0.3 and best_at(reference, 99) == 0.3
    assert best_at(reference, 100) == 0.2


def test_a_seed_check_killed_after_its_first_seed_is_finished_by_the_next_run():
    from bench_search_efficiency import CHECK_SEEDS, check_complete, seed_check_state

    from skp.tune.confirm import ATTR_PREFIX

    study = optuna.create_study()
    study.add_trial(trial(TrialState.COMPLETE, 3, 0.5))
    assert not check_complete(study) and seed_check_state(study) == ""
    study.set_user_attr(f"{ATTR_PREFIX}0", {"43": 0.52})  # kept as each seed ends
    assert not check_complete(study) and seed_check_state(study) == f"seed check: 1 of {CHECK_SEEDS} seeds"
    study.set_user_attr(f"{ATTR_PREFIX}0", {"43": 0.52, "44": 0.49})
    assert check_complete(study) and seed_check_state(study) == "seed check done"


def given(**values):
    """The bench's parsed arguments with only `values` given on the command line."""
    from argparse import Namespace

    from bench_search_efficiency import SETTINGS

    return Namespace(**{**dict.fromkeys(SETTINGS), **values})


def test_a_studies_folder_keeps_its_settings_and_refuses_others(tmp_path):
    from bench_search_efficiency import SETTINGS_FILE, settings

    first = settings(tmp_path, given(config="fashion.cfg_baseline", trials=20, keep_baseline=True, stop_fraction=0.34), record=True)
    assert (tmp_path / SETTINGS_FILE).exists() and first["trials"] == 20
    # a later report or run that leaves them out gets the folder's, not the digits defaults
    assert settings(tmp_path, given(), record=False) == first
    assert settings(tmp_path, given(trials=20), record=True) == first
    with pytest.raises(ValueError, match="--trials 20 .* gives --trials 16"):
        settings(tmp_path, given(trials=16), record=False)
    with pytest.raises(ValueError, match="gives --stop-fraction 1.0"):
        settings(tmp_path, given(stop_fraction=1.0), record=False)


def test_a_report_without_a_recorded_folder_records_nothing(tmp_path):
    from bench_search_efficiency import SETTINGS, SETTINGS_FILE, settings

    assert settings(tmp_path, given(), record=False) == SETTINGS
    assert not (tmp_path / SETTINGS_FILE).exists()


@pytest.mark.parametrize("hits, finals, expected", [
    ({0: (100, 1.0), 1: (120, 1.0), 2: (90, 1.0)}, [0.27, 0.27, 0.27], "meets it on seed 0, 1, 2: 4.55x sooner than the budget, mean best within its stop 0.2700"),
    ({0: (100, 1.0), 1: None}, [0.27, 0.30], "did not reach the target 0.2744 on seed 1"),
    ({0: (100, 1.0)}, [0.27], "undecided: reached the target on seed 0; seed 1, 2 still to run"),
    ({0: (100, 1.0), 1: (200, 1.0), 2: (300, 1.0)}, [0.27, 0.27, 0.27], "2.35x sooner than the budget (3x asked)"),
])
def test_the_decision_rule_is_applied_as_written(hits, finals, expected):
    from bench_search_efficiency import verdict

    assert expected in verdict(hits, finals, [0, 1, 2], budget=470, target=0.2744)


def test_the_target_is_settled_only_once_every_reference_has_its_whole_seed_check():
    from bench_search_efficiency import target_final

    whole, half = [0.27, 0.28, 0.26], [0.27, 0.28]
    assert target_final([(0, 3, whole), (1, 9, whole), (2, 21, whole)], [0, 1, 2])
    assert not target_final([(0, 3, whole), (1, 9, whole), (2, 21, half)], [0, 1, 2])  # a check killed midway
    assert not target_final([(0, 3, whole), (1, 9, whole)], [0, 1, 2])  # seed 2's reference still runs
