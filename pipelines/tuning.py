"""The Tuner step every task shares: ``tuner_fn`` for TFX's Tuner, a grid over optimizers and learning rates.

Seed 001 compares SGD, Adam, RMSprop and Adagrad by training each and plotting the curves; in a
TFX pipeline that comparison is the Tuner component. ``tuning.optimizers`` x ``tuning.learning_rates``
is the grid, ``tuning.max_trials`` the budget and ``tuning.epochs`` the length of each trial. Each
trial builds the task's model, fits it on the transformed training split and scores it by its best
``val_loss`` on the evaluation split; the Trainer then trains with the best trial's values
(:func:`pipelines.training.with_hyperparameters`).

KerasTuner 1.4 (which TFX 1.16 installs) imports Keras 3 and checks models against it, while this
project's models are Keras 2 (tf-keras). So the search uses KerasTuner's oracle, hyperparameters,
trial bookkeeping and ``BaseTuner`` loop, and :class:`TrialsTuner` runs each trial's Keras 2 fit
itself. It also keeps every trial's curves and writes the report (:meth:`TrialsTuner.write_report`).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from keras_tuner.engine import base_tuner
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult

from pipelines.config import TaskConfig, TrainingConfig
from pipelines.datasets import make_datasets
from pipelines.keras_config import require_keras2
from pipelines.spec import TaskSpec
from pipelines.training import TUNABLE, make_optimizer, task_and_config

OBJECTIVE = "val_loss"
REPORT_FILES = {"curves": "tuning_curves.png", "table": "trials.md", "data": "trials.json"}


def search_space(config: TaskConfig) -> keras_tuner.HyperParameters:
    """The grid: ``optimizer`` and ``learning_rate`` choices from ``tuning``."""
    hp = keras_tuner.HyperParameters()
    hp.Choice("optimizer", list(config.tuning.optimizers))
    hp.Choice("learning_rate", list(config.tuning.learning_rates))
    assert set(hp.values) == set(TUNABLE)  # the Trainer applies exactly these
    return hp


class TrialsTuner(base_tuner.BaseTuner):
    """Runs each trial as a Keras 2 fit of the task's model and keeps its curves for the report."""

    def __init__(
        self,
        spec: TaskSpec,
        config: TaskConfig,
        train_ds: tf.data.Dataset,
        eval_ds: tf.data.Dataset,
        directory: str,
    ) -> None:
        tuning = config.tuning
        grid = len(tuning.optimizers) * len(tuning.learning_rates)
        oracle = keras_tuner.oracles.GridSearchOracle(
            objective=keras_tuner.Objective(OBJECTIVE, "min"),
            max_trials=min(tuning.max_trials, grid),
            hyperparameters=search_space(config),
            seed=config.training.seed,
        )
        super().__init__(oracle=oracle, directory=directory, project_name=spec.name, overwrite=True)
        self.oracle.verbose = 0  # KerasTuner's own trial tables; each trial prints one [tuner] line instead
        self.spec, self.config = spec, config
        self.train_ds, self.eval_ds = train_ds, eval_ds
        self.trials_run: list[dict[str, Any]] = []

    def run_trial(self, trial: Any, *fit_args: Any, **fit_kwargs: Any) -> dict[str, float]:
        """Fit the task's model with this trial's optimizer and learning rate; return its best ``val_loss``."""
        del fit_args, fit_kwargs  # the datasets and epochs come from the task and its config
        values = dict(trial.hyperparameters.values)
        training = TrainingConfig.model_validate({**self.config.training.model_dump(), **values})
        keras.utils.set_random_seed(training.seed)  # every trial starts from the same weights
        model = self.spec.build_model(self.config)
        model.compile(optimizer=make_optimizer(training), **self.spec.compile_args(self.config))
        start = time.time()
        history = model.fit(
            self.train_ds, validation_data=self.eval_ds, epochs=self.config.tuning.epochs, verbose=0
        ).history
        seconds = time.time() - start
        curves = {key: [float(v) for v in series] for key, series in history.items()}
        best = min(curves[OBJECTIVE]) if curves.get(OBJECTIVE) else float("nan")
        self.trials_run.append(
            {"trial": trial.trial_id, **values, OBJECTIVE: best, "seconds": round(seconds, 1), "curves": curves}
        )
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        print(
            f"[tuner] trial {len(self.trials_run)}/{self.oracle.max_trials}  {shown}  "
            f"best {OBJECTIVE}={best:.4f}  {seconds:.1f}s",
            flush=True,
        )
        return {OBJECTIVE: best}

    def write_report(self, directory: str) -> dict[str, str]:
        """Write every trial's validation curve on one plot, the table of trials and ``trials.json``."""
        from pipelines import reports

        trials = sorted(self.trials_run, key=lambda t: t[OBJECTIVE])
        tf.io.gfile.makedirs(directory)
        paths = {key: os.path.join(directory, name) for key, name in REPORT_FILES.items()}
        with tf.io.gfile.GFile(paths["data"], "w") as f:
            json.dump({"objective": OBJECTIVE, "trials": trials}, f, indent=2)
        header = ["rank", *TUNABLE, f"best {OBJECTIVE}", "seconds"]
        rows = [
            [str(rank), *(str(t[k]) for k in TUNABLE), f"{t[OBJECTIVE]:.4f}", f"{t['seconds']:.1f}"]
            for rank, t in enumerate(trials, start=1)
        ]
        table = "\n".join("| " + " | ".join(row) + " |" for row in [header, ["---"] * len(header), *rows])
        with tf.io.gfile.GFile(paths["table"], "w") as f:
            f.write(
                f"{self.spec.name}: {len(trials)} trials of {self.config.tuning.epochs} epochs, "
                f"lowest {OBJECTIVE} first\n\n{table}\n"
            )
        labels = {", ".join(f"{k}={t[k]}" for k in TUNABLE): t["curves"].get(OBJECTIVE, []) for t in trials}
        reports.plot_curves(labels, paths["curves"], f"Tuner: {OBJECTIVE} of each trial", OBJECTIVE)
        return paths


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    """TFX Tuner's entry point for every task (``pipelines.tuning.tuner_fn``)."""
    require_keras2()
    spec, config = task_and_config(fn_args.custom_config)
    train_ds, eval_ds = make_datasets(fn_args, spec, config, tft.TFTransformOutput(fn_args.transform_graph_path))
    tuner = TrialsTuner(spec, config, train_ds, eval_ds, directory=fn_args.working_dir)
    return TunerFnResult(tuner=tuner, fit_kwargs={})
