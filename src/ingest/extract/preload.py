"""Imported once by the extractor processes' forkserver, before it forks any worker.

Everything the workers need is loaded here, in the server, so each worker starts as a copy-on-write
fork of it instead of loading its own: trafilatura and its dependencies, and py3langid's language
model (~74 MB, of which a 28 MB float16 matrix that classification only reads). Pages a worker never
writes stay shared between the server and every worker, so the machine holds them once (the summed
PSS of the process tree, not the summed RSS, is what that saves). ``gc.freeze()`` moves all of it to
the collector's permanent generation: a worker's collections then never write to these objects'
headers, which would copy their pages one by one.
"""

from __future__ import annotations

import gc

import trafilatura  # noqa: F401  (imported for its side effect: loaded before the fork)

from ingest.extract import pages  # noqa: F401  (likewise)
from ingest.extract.language import warm

warm()
gc.freeze()
