# Shopwright API image: gunicorn (gthread) on port 8000, migrations applied on start.
#   docker build -t shopwright .
#   docker run -p 8000:8000 -e SECRET_KEY=... -e DATABASE_URL=postgresql+psycopg://... shopwright
# See docs/operations.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# An unprivileged user owns nothing in /app but instance/ (SQLite file, file-backend emails). Its home
# is writable because gunicorn puts its control socket in ~/.gunicorn/.
RUN groupadd --system --gid 10001 shopwright \
 && useradd --system --uid 10001 --gid shopwright --create-home --home-dir /home/shopwright \
      --shell /usr/sbin/nologin shopwright

# Dependencies and the package first (README.md is the package's long description).
COPY pyproject.toml README.md ./
COPY src/ src/
RUN pip install .

COPY migrations/ migrations/
COPY alembic.ini gunicorn.conf.py ./
COPY docs/ docs/
COPY docker/entrypoint.sh /usr/local/bin/shopwright-entrypoint
RUN chmod 0755 /usr/local/bin/shopwright-entrypoint \
 && mkdir -p /app/instance/outbox \
 && chown -R shopwright:shopwright /app/instance

# The app finds migrations/ and docs/problems.md next to its source tree (src/shopwright/../..),
# so it runs from /app/src; the `pip install .` above provides the dependencies and console scripts.
# APP_ENV=production refuses to start without a real SECRET_KEY.
ENV PYTHONPATH=/app/src \
    FLASK_APP=shopwright:create_app \
    APP_ENV=production \
    EMAIL_OUTBOX_DIR=/app/instance/outbox

USER shopwright
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4)"]

ENTRYPOINT ["shopwright-entrypoint"]
CMD ["gunicorn", "shopwright:create_app()", "--worker-class", "gthread", "--workers", "2", "--threads", "4", "--bind", "0.0.0.0:8000"]
