"""The keys skp's Ray pieces share. Who a trial is travels in its config: the searcher
(skp.tune.ray_search) adds it to the parameters, the trainable (skp.tune.ray_trial) and
skp's schedulers (skp.tune.ray_schedulers) read it. Where a report stands in its trial
travels in the result the trainable reports."""

# config keys: who the trial is
STUDY = "skp:study"
TRIAL_NUMBER = "skp:trial_number"
BASELINE = "skp:baseline"  # the baseline trains its full schedule only, and no scheduler stops it
IDENTITY = (STUDY, TRIAL_NUMBER, BASELINE)

# result keys: where the report stands
STEP = "step"  # the 0-based step the Optuna backend reports this value at
RUNG_EPOCHS = "rung_epochs"  # rungs: the epochs of the complete schedule the report ends
FINAL = "final"  # the trial's last report, on which the Optuna backend does not ask its pruner
