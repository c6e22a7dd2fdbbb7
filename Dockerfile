# An Erlen app in a container: gunicorn managing uvicorn workers (the ASGI door).
#   docker build -t erlen-hello .
#   docker run --rm -p 8000:8000 erlen-hello
# For your own project, install your requirements instead of this repository,
# and copy your app instead of examples/hello.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . gunicorn uvicorn-worker "uvicorn[standard]"

WORKDIR /srv
COPY examples/hello/ ./
RUN useradd --create-home --uid 10001 erlen
USER erlen

EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--worker-class", "uvicorn_worker.UvicornWorker", "--access-logfile", "-", "app:app"]
