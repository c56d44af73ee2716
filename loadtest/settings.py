"""Settings for the load test (``make loadtest``): production's, on the load test's own database.

Production's settings module is imported with ``DJANGO_DEBUG`` off, so every production choice
holds (the static manifest, the session and CSRF checks, the Redis cache, tasks queued to Redis).
Overridden, and only these:

- the database is ``LOADTEST_DATABASE_URL`` (never ``DATABASE_URL``), Redis ``LOADTEST_REDIS_URL``;
- gunicorn is reached over plain HTTP on loopback with no TLS proxy in front, so no HTTPS redirect,
  no ``Secure`` cookies (the client would never send them back over HTTP) and no trusted proxy;
- the URLconf adds the bare view ``/_bare/``, the baseline every page is compared with.

The secrets are the load test's own: ``loadtest/run.py`` passes one random key to every gunicorn
worker (a key per worker would end sessions between workers).
"""

import os

from django.core.exceptions import ImproperlyConfigured

os.environ["DJANGO_DEBUG"] = "0"
os.environ.setdefault("DJANGO_SECRET_KEY", "loadtest-only-key-on-a-throwaway-loopback-database-0123456789")
os.environ.setdefault("LEARNING_PLATFORM_SECRET", "loadtest-only-learning-platform-secret")
os.environ.setdefault("SCHOOLOPS_ORDER_SYSTEM_SECRET", "loadtest-only-order-system-secret")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
os.environ["REDIS_URL"] = os.environ.get("LOADTEST_REDIS_URL", "redis://127.0.0.1:6379/5")
os.environ.pop("CELERY_BROKER_URL", None)

import dj_database_url  # noqa: E402

from schoolops.settings import *  # noqa: E402, F403
from schoolops.settings import BASE_DIR, DATABASES, TEMPLATES, VAR_DIR  # noqa: E402

LOADTEST_DATABASE_URL = os.environ.get("LOADTEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/schoolops_load")
if not LOADTEST_DATABASE_URL.startswith(("postgres://", "postgresql://")):
    raise ImproperlyConfigured("LOADTEST_DATABASE_URL must name a PostgreSQL database.")
DATABASES["default"] = dj_database_url.parse(LOADTEST_DATABASE_URL, conn_max_age=60, conn_health_checks=True)

ROOT_URLCONF = "loadtest.urls"
TEMPLATES[0]["DIRS"] = [*TEMPLATES[0]["DIRS"], BASE_DIR / "loadtest" / "templates"]
STATIC_ROOT = VAR_DIR / "loadtest" / "static"  # collectstatic'd by loadtest/prepare.py

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
LOGIN_TRUSTED_PROXY_COUNT = 0

# Every simulated log-in would be an INFO line of django-axes.
LOGGING["loggers"]["axes"] = {"level": "WARNING"}  # noqa: F405
