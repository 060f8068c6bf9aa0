"""What a process reports to Prometheus: its own counters, and gauges read from the database at each scrape.

Counters live in the process that counts them. Under ``closeloop serve --workers N`` every worker writes its
counters to files in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode, set up before the
workers start), and a scrape of any worker adds them up. The backlog gauges (outbox depth, delivery and sweep
lag) are not counted anywhere: they are read from the database when scraped, so every process, and every
number of processes, reports the same figure.
"""
