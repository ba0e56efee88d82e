"""TFX's Tuner, writing the search's report next to its results.

The standard executor searches and writes ``best_hyperparameters`` and ``tuner_results``; this one
does the same without the search summaries KerasTuner prints to stdout, then, if the tuner that
the ``tuner_fn`` returned can write a report (a ``write_report(directory)`` method, as
``pipelines.tuning.TrialsTuner`` has), writes it into the ``tuner_results`` artifact, where the
run summary points. On Kubeflow it compiles as a custom component of the same image.
"""

from __future__ import annotations

from tfx.components import Tuner as TfxTuner
from tfx.components.tuner import executor as tuner_executor
from tfx.dsl.components.base.executor_spec import ExecutorClassSpec
from tfx.types import artifact_utils, standard_component_specs

from common.contract import TUNING_REPORT_DIR


class ReportingExecutor(tuner_executor.Executor):
    """Search, write the best hyperparameters and the results, then the tuner's report."""

    def Do(self, input_dict: dict, output_dict: dict, exec_properties: dict) -> None:
        """Run the search of ``tuner_fn`` and write its outputs."""
        if tuner_executor.get_tune_args(exec_properties):
            raise ValueError("TuneArgs (parallel tuning) is not supported by this Tuner.")
        tuner = tuner_executor.search(input_dict, exec_properties, self._get_tmp_dir(), print_tuning_summary=False)
        tuner_executor.write_best_hyperparameters(tuner, output_dict)
        write_report = getattr(tuner, "write_report", None)
        if callable(write_report):
            results = artifact_utils.get_single_uri(output_dict[standard_component_specs.TUNER_RESULTS_KEY])
            write_report(f"{results}/{TUNING_REPORT_DIR}")


class Tuner(TfxTuner):
    """``tfx.components.Tuner`` whose executor also writes the tuner's report (see the module)."""

    EXECUTOR_SPEC = ExecutorClassSpec(ReportingExecutor)
