"""gunicorn's settings for Hikeshi's web, from the environment (`-c config/gunicorn.py`).

Sized for 2 cores by default: requests mostly wait on the database, so a few threads per worker
overlap those waits; two workers keep the web answering while one restarts."""

import ctypes
import os
import signal
import sys

from gunicorn.glogging import Logger

from config.redact import redact

PR_SET_PDEATHSIG = 1


class RedactingLogger(Logger):
    """gunicorn's logger, its access lines without the tokens of one-time links (in the
    request line, the path, the query and the Referer alike)."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {name: redact(value) for name, value in atoms.items()}


logger_class = RedactingLogger

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# A request that takes longer than this is a stuck worker: it is killed and replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# A stop waits this long for requests in flight, then kills the workers: the whole web is
# gone well within 10 s of SIGTERM, even with a worker still importing Django when it came.
graceful_timeout = 5
keepalive = 5
# Workers that served this many requests are replaced, so that a slow leak stays bounded.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = 500
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "true").lower() == "true" else None
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# No control socket in the user's home: two servers on one machine would share its path.
control_socket_disable = True

# Under `make run` every process writes to one terminal: each line says whose it is.
_program = os.environ.get("SUPERVISOR_PROCESS_NAME")
if _program:
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": f"{_program} | %(asctime)s [%(process)d] %(levelname)s %(message)s"}
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }


def pre_request(worker, req):
    """gunicorn's own debug line for each request, without a link's token."""
    worker.log.debug("%s %s", req.method, redact(req.path))


def post_fork(server, worker):
    """A worker dies with its master. Left running after a kill -9 of the master, workers
    kept the port, answered for a while, then dropped their connections; the restarted master
    could not bind until they had gone."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != server.pid:  # the master died before the call took effect
            os.kill(os.getpid(), signal.SIGTERM)


def child_exit(server, worker):
    """A worker gone leaves its request metrics behind in PROMETHEUS_MULTIPROC_DIR."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
