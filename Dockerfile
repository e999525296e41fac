# auditor serve, e.g. as an ECS sidecar (deploy/). Two stages: `build` makes the wheel from the
# package sources alone; the runtime image installs that wheel without the test or demo extras,
# every dependency at its version in requirements/lock.txt, with scripts/install-wheel.sh (the
# script tests/test_packaging.py installs the wheel with). Rule packs, templates and schemas are
# inside the package. Settings: AUDITOR_* variables, or a file named by AUDITOR_CONFIG.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY auditor ./auditor
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

FROM python:3.11-slim
COPY --from=build /dist/ /tmp/install/
COPY requirements/lock.txt scripts/install-wheel.sh /tmp/install/
RUN sh /tmp/install/install-wheel.sh /opt/auditor /tmp/install/auditor-*.whl /tmp/install/lock.txt \
    && rm -rf /tmp/install \
    && groupadd --system --gid 10001 auditor \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/auditor --no-create-home \
       --shell /usr/sbin/nologin auditor \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/auditor

# Everything the daemon writes (state file, price cache, temporary files) is on the volume, so
# the container runs with a read-only root file system.
ENV PATH=/opt/auditor/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AUDITOR_STATE__PATH=/var/lib/auditor/auditor-state.sqlite3 \
    XDG_CACHE_HOME=/var/lib/auditor/cache \
    TMPDIR=/var/lib/auditor
VOLUME ["/var/lib/auditor"]
WORKDIR /var/lib/auditor
USER 10001:10001
EXPOSE 9797
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9797/healthz', timeout=4)"]
ENTRYPOINT ["auditor", "serve"]
