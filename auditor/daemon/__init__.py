"""``auditor serve``: the long-running sidecar that audits on a schedule and exports metrics.

- :mod:`.config`    the settings (one YAML file + ``AUDITOR_*`` environment variables), validated
- :mod:`.logs`      JSON-lines logging on stdout
- :mod:`.metrics`   the immutable state of the last audit and the Prometheus collector over it
- :mod:`.health`    liveness and readiness (is the last audit recent enough?)
- :mod:`.scheduler` APScheduler triggers (interval or crontab) and the readiness window they imply
- :mod:`.runner`    one scheduled audit: run it, turn it into metrics state, log it
- :mod:`.http`      the threaded WSGI server for /metrics, /healthz and /readyz
- :mod:`.service`   wiring, SIGHUP reload, SIGTERM/SIGINT shutdown, ``main``
"""
