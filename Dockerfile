# auditor serve as an ECS sidecar. The install step is the one CI runs (scripts/bootstrap.sh:
# a virtualenv at /app/.venv with the package installed in editable mode, so rules/ ships too).
FROM python:3.11-slim

WORKDIR /app
COPY . /app
RUN bash scripts/bootstrap.sh \
    && useradd --system --uid 10001 --home-dir /app auditor \
    && chown -R auditor /app

USER auditor
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1
EXPOSE 9797
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9797/healthz', timeout=4)"]
ENTRYPOINT ["auditor", "serve"]
CMD ["--config", "/app/examples/auditor.yaml"]
