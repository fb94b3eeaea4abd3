# The webhook's container image, in three stages so the runtime image holds only the installed program:
#   wheels   builds wheels of the project and its dependencies (the only stage that may reach an index);
#   venv     installs those wheels, with no index, into a virtual environment;
#   runtime  the base image plus that environment, run as a non-root numeric user.
# Works with the classic builder and with BuildKit:
#   docker build -t pod-identity-webhook .
# Where build containers cannot reach the index themselves, scripts/build-image downloads the wheels on the
# host into the build context's `wheelhouse/` and builds with PIP_NO_INDEX=1 and no network.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS wheels
# pip's own default index; behind a mirror, download the wheels on the host with scripts/build-image.
ARG PIP_NO_INDEX=0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_NO_INDEX=${PIP_NO_INDEX} \
    PIP_FIND_LINKS=/wheelhouse PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /build
WORKDIR /src
COPY pyproject.toml .ci/constraints.txt ./
# pyproject.toml is named only so the copy has a source when the context has no wheelhouse/.
COPY pyproject.toml wheelhouse* /wheelhouse/
# Dependencies first, from pyproject.toml and the versions `make test` passed with (.ci/constraints.txt)
# alone: a change to the code then rebuilds only the project's wheel.
RUN /build/bin/pip install --quiet "setuptools>=68" wheel \
    && /build/bin/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' \
        > /build/requirements.txt \
    && /build/bin/pip wheel --quiet --wheel-dir /wheels/dependencies --requirement /build/requirements.txt \
        --constraint constraints.txt
COPY . ./
RUN /build/bin/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /wheels/project .

# Dependencies and project in separate steps, so a code change reinstalls only the project.
FROM ${BASE_IMAGE} AS venv
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
COPY --from=wheels /wheels/dependencies /wheels/dependencies
RUN python3 -m venv /opt/pod-identity-webhook \
    && /opt/pod-identity-webhook/bin/pip install --quiet --no-index /wheels/dependencies/*.whl
COPY --from=wheels /wheels/project /wheels/project
RUN /opt/pod-identity-webhook/bin/pip install --quiet --no-index --find-links /wheels/dependencies /wheels/project/*.whl \
    && /opt/pod-identity-webhook/bin/pip uninstall --quiet --yes pip setuptools \
    && rm -rf /opt/pod-identity-webhook/lib/python3*/site-packages/kubernetes/aio
# kubernetes/aio is the client's asyncio twin (68 MB, over a third of the installed packages); nothing
# here imports it, and the image test runs the server from this very environment.

FROM ${BASE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="pod-identity-webhook" \
      org.opencontainers.image.description="Kubernetes mutating admission webhook that gives pods AWS IAM roles through their ServiceAccounts (IRSA and EKS Pod Identity)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=venv /opt/pod-identity-webhook /opt/pod-identity-webhook
# /webhook is where the reference webhook's image keeps its program: a manifest written for it, with
# `command: [/webhook, ...its flags]`, runs this image unchanged (port 443, certificates in /etc/webhook/certs).
RUN ln -s /opt/pod-identity-webhook/bin/pod-identity-webhook-compat /webhook
ENV PATH=/opt/pod-identity-webhook/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
USER 65532:65532
WORKDIR /tmp
EXPOSE 8443 9999
ENTRYPOINT ["pod-identity-webhook"]
CMD ["serve"]
