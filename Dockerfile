# The app image used by compose.yaml: web server, stream workers and Celery share it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY config ./config
COPY redis_patterns ./redis_patterns
COPY shop ./shop
COPY leaderboard ./leaderboard
COPY sessions_app ./sessions_app
COPY realtime ./realtime
COPY workers ./workers
COPY lessons ./lessons
COPY ops ./ops
COPY templates ./templates
COPY static ./static
COPY bench ./bench
COPY manage.py Procfile ./
RUN pip install . && useradd --create-home app && mkdir -p /app/var && chown app /app/var
USER app

EXPOSE 8000
# The Procfile's web flags (see the comment there): no proxy-header rewriting, WebSocket frames <= 16 KiB.
# Behind a reverse proxy, set RATELIMIT_TRUSTED_PROXIES to the number of proxies instead.
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--ws", "websockets-sansio", "--lifespan", "off", "--no-proxy-headers", "--ws-max-size", "16384"]
