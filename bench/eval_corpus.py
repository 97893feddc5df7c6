"""The shared corpus, extracted with ingest's own extractor: input of bench/eval_dedup_tags.py.

Pages are read from ``news-pages/<cc>/<file>.html.gz`` with their original URL from ``meta.info`` and
extracted in the extractor worker processes. Results are cached per corpus directory in ``.cache/``
(delete it after changing the extractor).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

from ingest.config import ExtractSettings
from ingest.extract.pages import Extraction, ExtractorPool, PageInput

ROOT = Path(__file__).resolve().parents[1]


def corpus_dir() -> Path:
    return Path(os.environ.get("INGEST_CORPUS_DIR") or ROOT.parent / "shared" / "corpus")


def corpus_pages() -> list[tuple[str, str, bytes]]:
    """(file key ``cc/File.html.gz``, original URL, page bytes), sorted by key."""
    pages = []
    for meta in sorted((corpus_dir() / "news-pages").glob("*/meta.info")):
        info = json.loads(meta.read_text(encoding="utf-8"))
        for name, rec in sorted(info.items()):
            path = meta.parent / name
            if path.is_file():
                pages.append((f"{meta.parent.name}/{name}", rec["url"], gzip.decompress(path.read_bytes())))
    return pages


def extract_all(pages: list[tuple[str, str, bytes]], pool: ExtractorPool) -> dict[str, dict[str, Any]]:
    results = pool.extract_many([PageInput(url=u, body=b, content_type="text/html") for _, u, b in pages])
    out = {}
    for (key, url, _), r in zip(pages, results, strict=True):
        if isinstance(r, Extraction):
            out[key] = {"url": url, "title": r.title, "text": r.text, "language": r.language}
    return out


def corpus_texts(pool: ExtractorPool | None = None) -> dict[str, dict[str, Any]]:
    cache = ROOT / ".cache" / "corpus_texts.json"
    if cache.is_file():
        return json.loads(cache.read_text(encoding="utf-8"))
    own = pool is None
    pool = pool or ExtractorPool(ExtractSettings())
    try:
        pool.start()
        texts = extract_all(corpus_pages(), pool)
    finally:
        if own:
            pool.close()
    cache.parent.mkdir(exist_ok=True)
    cache.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    return texts


if __name__ == "__main__":
    t = corpus_texts()
    print(f"{len(t)} pages extracted")
