"""Background work: the periodic jobs of the core and the two runners that run them.

:mod:`.definitions` holds one definition of each job (hold expiry, reservation sweep, mail,
payment reconciliation, exports); :mod:`.inprocess` runs them inside a core process (the
SQLite embedded default, ``make demo``) and :mod:`.queue` on the procrastinate job queue,
whose ``kippu worker`` processes run each periodic job once per period however many of them
run (PostgreSQL deployments). See docs/jobs.md.
"""
