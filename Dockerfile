# gitbot's image, the one manifests/ runs:
#   docker build -t ghcr.io/acme/gitbot:0.1.0 .        (or: buildah build / podman build)
# Two stages: the wheel of gitbot and of every dependency is built in `build`; the runtime stage
# installs them from those wheels alone (no index, no compiler, no source), adds git and
# openssh-client, removes pip/setuptools/wheel and runs as an unprivileged user.
# The base is pinned by version; to pin by digest as well, append @sha256:<digest> to PYTHON.
# tests/test_image.py runs the pip steps below in a fresh virtualenv and the entrypoint.
ARG PYTHON=python:3.11.13-slim-bookworm

FROM ${PYTHON} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gitbot ./gitbot
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON}
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client \
 && rm -rf /var/lib/apt/lists/*
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels gitbot \
 && python -m pip uninstall -y -q setuptools wheel pip
# The group gets the same id as USER's (useradd --user-group would pick 1000 instead).
RUN groupadd --gid 65532 gitbot \
 && useradd --uid 65532 --gid 65532 --home-dir /var/lib/gitbot --create-home \
    --shell /usr/sbin/nologin gitbot
USER 65532:65532
WORKDIR /var/lib/gitbot
ENV HOME=/var/lib/gitbot \
    GITBOT_CONFIG=/etc/gitbot/config.yaml \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
EXPOSE 8080
ENTRYPOINT ["gitbot"]
CMD ["run"]
