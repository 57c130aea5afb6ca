"""bench_search_efficiency.py goes on from committed journals on another machine: a dead
attempt is not counted as the strategy's compute, and a journal cut mid-line still opens."""

import sys
from pathlib import Path

import optuna
from optuna.trial import TrialState, create_trial

sys.path.insert(0, str(Path(__file__).parent))
from bench_search_efficiency import curve, trim_partial_line  # noqa: E402


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
