# Local stand-in for python:3.11-slim-bookworm (registry images cannot be pulled here): Debian's
# own Python 3.11 with venv and pip, `python` on PATH, and the host's CA bundle so that pip
# works through the TLS-intercepting proxy that is this machine's only way to PyPI. Like the
# official image it holds Python, pip and setuptools and little else (docs/deployment.md).
ARG DEBIAN_IMAGE=faceid-e2e/debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       python3 python3-venv python-is-python3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY host-ca-bundle.crt /etc/ssl/certs/host-ca-bundle.crt
ENV PIP_CERT=/etc/ssl/certs/host-ca-bundle.crt \
    SSL_CERT_FILE=/etc/ssl/certs/host-ca-bundle.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/host-ca-bundle.crt \
    PIP_DEFAULT_TIMEOUT=180
# The official image's pip installs as root without PEP 668's refusal; a venv first on PATH does the same.
RUN python3 -m venv /opt/python && /opt/python/bin/pip install --no-cache-dir --upgrade pip \
    && find /opt/python -name __pycache__ -prune -exec rm -rf {} +
ENV PATH=/opt/python/bin:$PATH
CMD ["python3"]
