"""gunicorn settings for the production container (docker-compose.yml, service web).

WEB_CONCURRENCY sets the number of worker processes; GUNICORN_CMD_ARGS adds any other option.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")  # noqa: S104 - inside the container
workers = int(os.environ.get("WEB_CONCURRENCY", str(min(2 * multiprocessing.cpu_count() + 1, 9))))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
# Behind a TLS-terminating reverse proxy: recycle workers now and then, log to stdout/stderr.
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
# No gunicornc control socket: the app user cannot write its home (/app) in the image.
control_socket_disable = True
