# Local stand-in for tensorflow/tensorflow:2.21.0-gpu: Python 3.11 with TensorFlow installed
# (the GPU image's CUDA libraries are left out: no GPU here, TensorFlow runs on the CPU).
ARG PYTHON_IMAGE=faceid-e2e/python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}
RUN pip install --no-cache-dir tensorflow==2.21.0
