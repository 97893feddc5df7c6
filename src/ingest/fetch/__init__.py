"""HTTP fetching: the client, the connect-time address guard, robots.txt, politeness, bounded
decompression, meta refresh and bot-wall recognition. Bytes in, bytes out; nothing here parses feeds
or pages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest._lazy import lazy_exports

if TYPE_CHECKING:
    from ingest.fetch.botwall import detect_bot_wall
    from ingest.fetch.client import FetchCancelled, Fetcher, FetchRecord, FetchResult
    from ingest.fetch.decompress import Decoder
    from ingest.fetch.netguard import AddressPolicy, is_forbidden_address
    from ingest.fetch.politeness import Politeness
    from ingest.fetch.refresh import meta_refresh_target
    from ingest.fetch.robots import RobotsCache, RobotsRules, robots_url

_PUBLIC = {
    "Fetcher": "client",
    "FetchResult": "client",
    "FetchRecord": "client",
    "FetchCancelled": "client",
    "RobotsCache": "robots",
    "RobotsRules": "robots",
    "robots_url": "robots",
    "Politeness": "politeness",
    "AddressPolicy": "netguard",
    "is_forbidden_address": "netguard",
    "Decoder": "decompress",
    "meta_refresh_target": "refresh",
    "detect_bot_wall": "botwall",
}
__all__ = [
    "AddressPolicy",
    "Decoder",
    "FetchCancelled",
    "FetchRecord",
    "FetchResult",
    "Fetcher",
    "Politeness",
    "RobotsCache",
    "RobotsRules",
    "detect_bot_wall",
    "is_forbidden_address",
    "meta_refresh_target",
    "robots_url",
]
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
