"""Jobs: lip-sync runs queued by the web server and executed by worker processes.

The job store (``store.py``, SQLAlchemy) is the source of truth for every job's state; the
queue (``queue.py``, Huey on SQLite or Redis) only delivers job ids to workers
(``worker.py``); the sweeper (``sweeper.py``) retries jobs whose worker died and expires old
results. See docs/jobs.md for the design and its reasons.
"""
