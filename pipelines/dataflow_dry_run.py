"""Run a task's KFP v2 entry point with the DataflowRunner's dry run, keeping the Dataflow job it would submit.

``python -m pipelines.dataflow_dry_run JOB.json <the entry point's arguments> --dry_run=True``: the
task's executor builds its Beam pipeline as on Vertex, the DataflowRunner translates it into the job
Dataflow would receive and returns without submitting it (Beam's ``--dry_run``, no credentials); every
such job is written to ``JOB.json`` (a list: an executor may run several pipelines). Beam writes no job
file under a dry run (``--dataflow_job_file`` is skipped), hence this wrapper.
"""

from __future__ import annotations

import json
import runpy
import sys
from typing import Any

ENTRY_POINT = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"


def main() -> None:
    """Patch the DataflowRunner to keep each dry run's job, then run the entry point with the remaining arguments."""
    from apache_beam.runners.dataflow import dataflow_runner

    path, sys.argv = sys.argv[1], [ENTRY_POINT, *sys.argv[2:]]
    jobs: list[Any] = []
    run_pipeline = dataflow_runner.DataflowRunner.run_pipeline

    def keep(self: Any, pipeline: Any, options: Any) -> Any:
        from apache_beam.options.pipeline_options import DebugOptions, GoogleCloudOptions, WorkerOptions
        from apache_beam.portability.api import beam_runner_api_pb2

        result = run_pipeline(self, pipeline, options)
        job = result.job
        proto = job.proto_pipeline  # what runner v2 stages for Dataflow: the transforms and their environments
        images = []
        for environment in proto.components.environments.values():
            if environment.urn == "beam:env:docker:v1":
                images.append(beam_runner_api_pb2.DockerPayload.FromString(environment.payload).container_image)
        cloud = options.view_as(GoogleCloudOptions)
        jobs.append({
            "name": job.proto.name,
            "labels": dict(job.proto.labels.additionalProperties and
                           {p.key: p.value for p in job.proto.labels.additionalProperties} or {}),
            "project": cloud.project,
            "region": cloud.region,
            "temp_location": cloud.temp_location,
            "sdk_container_image": options.view_as(WorkerOptions).sdk_container_image,
            "experiments": options.view_as(DebugOptions).experiments or [],
            "environment_images": sorted(set(images)),
            "transforms": sorted(t.unique_name for t in proto.components.transforms.values() if t.unique_name),
        })  # fmt: skip
        with open(path, "w", encoding="utf-8") as f:
            json.dump(jobs, f, indent=1)
        return result

    dataflow_runner.DataflowRunner.run_pipeline = keep  # type: ignore[method-assign]
    runpy.run_module(ENTRY_POINT, run_name="__main__")


if __name__ == "__main__":
    main()
