# The image every pipeline component runs in on Kubeflow Pipelines v2 / Vertex AI.
# Based on the official TFX 1.16.0 image; installs this project as a package with
# the same pinned constraints as scripts/setup.sh, so Trainer and Transform import
# the same code by dotted module path (pipelines.training.run_fn, ...).
# Docker cannot run on the development machines: build and push it elsewhere
# (see README, "Docker image").
FROM tensorflow/tfx:1.16.0

# Keras 2 (tf-keras) in every process: the project's one Keras decision
# (pipelines/keras_config.py); TensorFlow Transform requires it.
ENV TF_USE_LEGACY_KERAS=1 \
    PYTHONUNBUFFERED=1

# Graphviz for keras.utils.plot_model (the model diagrams in the run reports). Its version is
# the base image's distribution's; pinning an exact Debian/Ubuntu revision breaks the build
# whenever the archive moves on, so this one warning is waived.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends graphviz \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/tfx-keras
COPY constraints.txt setup.py ./
COPY common/ common/
COPY components/ components/
COPY data_import/ data_import/
COPY models/ models/
COPY pipelines/ pipelines/
COPY serving/ serving/
RUN python -m pip install --no-cache-dir -c constraints.txt . \
    && python -c "import pipelines.training, pipelines.mnist"
