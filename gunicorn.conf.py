"""gunicorn settings for Shopwright, read from the working directory (docs/operations.md, gunicorn).

The worker class, workers and threads stay on the command line; these are the request limits and the
problem+json answers gunicorn gives when it refuses a request itself.
"""

from typing import Any

from shopwright import serving

# The longest request line gunicorn reads (method, path, query, version), in bytes; longer is 414. The
# API's URLs are short (cursors are at most 500 characters), so gunicorn's default stays.
limit_request_line = 4094
# At most this many headers of at most this many bytes each; more is 431 / 400.
limit_request_fields = 100
limit_request_field_size = 8190


def post_worker_init(worker: Any) -> None:
    serving.answer_errors_as_problems()


# Prometheus multiprocess mode (PROMETHEUS_MULTIPROC_DIR set): every worker writes its samples there and
# a scrape of any worker sums them all (docs/operations.md, metrics).
def on_starting(server: Any) -> None:
    serving.reset_metrics_dir()


def child_exit(server: Any, worker: Any) -> None:
    serving.worker_exited(worker.pid)
