# The production image of schoolops: gunicorn serves the web app (static files via WhiteNoise);
# the same image runs the Celery worker and beat. See docker-compose.yml and
# deploy/production.env.example.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    DJANGO_MEDIA_ROOT=/data/media \
    SCHOOLOPS_VAR_DIR=/data/var

RUN groupadd --system app && useradd --system --gid app --home-dir /app --no-create-home app

# E-receipts: WeasyPrint lays text out with Pango and embeds a CJK font (without one, Chinese
# renders as boxes).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk fontconfig \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files are collected at build time; these dummy values exist only for this command.
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=build-only LEARNING_PLATFORM_SECRET=build-only \
        SCHOOLOPS_ORDER_SYSTEM_SECRET=build-only python manage.py collectstatic --noinput \
    && mkdir -p /data/media /data/var \
    && chown -R app:app /app/staticfiles /data

USER app
EXPOSE 8000
CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "schoolops.wsgi"]
