"""Local news sites on 127.0.0.1: the bundled demo (``ingest demo``, tests) and the shared corpus (benchmark).

Import from :mod:`ingest.demo.site` and :mod:`ingest.demo.server`; this package only groups them.
"""
