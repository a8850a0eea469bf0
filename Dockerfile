# tidings: `tidings serve`, `tidings worker`, `tidings migrate`, ... (see README).
# The example host application ships in the same image: `python -m examples.second_brain`.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # The example's resolvers (TIDINGS_RESOLVERS=examples.second_brain...) import from here.
    PYTHONPATH=/app \
    TIDINGS_HOST=0.0.0.0 \
    TIDINGS_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY foundation ./foundation
COPY broker ./broker
COPY tidings ./tidings
COPY api_hooks ./api_hooks
COPY outbox ./outbox
COPY delivery ./delivery
COPY migrations ./migrations
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app tidings \
    && mkdir -p /data && chown tidings /data
COPY examples ./examples

USER tidings
EXPOSE 8000
ENTRYPOINT ["tidings"]
CMD ["serve"]
