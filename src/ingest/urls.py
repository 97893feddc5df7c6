"""URL canonicalisation: one canonical URL is one article.

Modelled on Media Cloud's normaliser: lower-cased scheme and host, punycode hosts, no default port,
fragment or userinfo, RFC 3986 dot segments and percent-encoding, tracking parameters dropped, the rest
sorted, AMP and mobile variants folded into the desktop URL. Pure functions: no I/O, no network (the
Public Suffix List is the copy bundled with ``tld``, and it is never updated from here).
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import idna
import tld
from tld.utils import BaseMozillaTLDSourceParser

# Always dropped (compared lower-cased). Every name is a click / campaign / share marker that never
# selects content. Generic names ("id", "p", "page", "src", "ref", "mbid", "si") are deliberately absent.
# fmt: off
TRACKING_PARAMS: frozenset[str] = frozenset({
    "fbclid", "gclid", "dclid", "gclsrc", "gbraid", "wbraid", "gad_source", "msclkid", "yclid", "ysclid",
    "_openstat", "twclid", "ttclid", "li_fat_id", "srsltid", "mc_cid", "mc_eid", "_ga", "_gl", "igshid",
    "ref_src", "ref_url", "cmpid", "cmp", "ito", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname",
    "ns_fee", "sr_share", "at_medium", "at_campaign", "at_format", "at_link", "at_platform", "at_ptr_name",
    "wt_mc", "wt.mc_id", "spm", "share", "smid", "__twitter_impression", "mkt_tok", "oly_anon_id",
    "oly_enc_id", "rb_clickid", "s_cid", "s_kwcid", "vero_conv", "vero_id", "_hsenc", "_hsmi",
    "hsctatracking", "ocid", "cvid", "taid", "guccounter", "guce_referrer", "guce_referrer_sig",
    "soc_src", "soc_trk", "fb_action_ids", "fb_action_types", "fb_source", "fb_ref", "dicbo",
    "oborigurl", "tblci", "maca", "pk_campaign", "pk_kwd", "pk_source", "pk_medium", "pk_content",
    # AMP: the switch itself and the parameters Google's AMP viewer / cache append
    "amp", "amp_js_v", "amp_gsa", "amp_tf", "usqp", "ampshare",
})
# Whole families from one vendor (Google Analytics, AT Internet as used by the BBC, Matomo).
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "at_custom", "mtm_")
# Dropped only with this value: the name alone is too generic to drop.
TRACKING_PARAM_VALUES: frozenset[tuple[str, str]] = frozenset({
    ("src", "rss"), ("ref", "rss"), ("r", "rss"), ("from", "rss"), ("source", "rss"),
    ("feature", "share"), ("outputtype", "amp"),
})
# fmt: on
# Host labels that mark a mobile or AMP copy of the same site.
VARIANT_HOST_LABELS: tuple[str, ...] = ("m", "mobile", "amp")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SUB_DELIMS = "!$&'()*+,;="
_PATH_SAFE = frozenset(_SUB_DELIMS + ":@/")
_QUERY_SAFE = frozenset(_SUB_DELIMS + ":@/?")
_PCT_OR_CHAR = re.compile(r"%[0-9A-Fa-f]{2}|.", re.DOTALL)
_HOST_RE = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_SCHEME_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
_TAB_NEWLINE = re.compile(r"[\t\n\r]")  # browsers drop these anywhere in a URL
_C0_SPACE = "".join(map(chr, range(0x21)))  # and these at either end
_AMP_CACHE_RE = re.compile(r"/(?:c|v|i|r|wp)/(s/)?([^/?#]+(?:/[^?#]*)?)")
_GOOGLE_AMP_RE = re.compile(r"/amp/(s/)?([^/?#]+(?:/[^?#]*)?)")
_GOOGLE_HOST_RE = re.compile(r"(?:www\.)?google(?:\.[a-z]{2,3}){1,2}")


class _OfflinePSL(BaseMozillaTLDSourceParser):
    """tld's bundled Public Suffix List, refusing to download a fresh one (tld's fallback on a read error)."""

    uid = "ingest_offline_psl"
    source_url = ""
    local_path = str(Path(tld.__file__).parent / "res" / "effective_tld_names.dat.txt")
    include_private = True  # blogspot.com, github.io: each subdomain is a separate owner

    @classmethod
    def update_tld_names(cls, fail_silently: bool = False) -> bool:
        return False


def _clean(url: str) -> str:
    return _TAB_NEWLINE.sub("", url).strip(_C0_SPACE)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _is_local(host: str) -> bool:
    return host == "localhost" or _ip(host) is not None


def _encode_host(host: str) -> str:
    """Lower-case ASCII: IPv6 compressed in brackets, IDNA 2008 + UTS 46 (as httpx and browsers do)."""
    host = unquote(host.strip()).rstrip(".")  # browsers decode "%C3%BC" in a host too
    if host.startswith("[") or ":" in host:
        if not isinstance(addr := _ip(host), ipaddress.IPv6Address):
            raise ValueError(f"bad IPv6 literal: {host!r}")
        return f"[{addr.compressed}]"
    if not host.isascii():
        labels = idna.uts46_remap(host, std3_rules=False).split(".")
        host = ".".join(lab if lab.isascii() else idna.alabel(lab).decode("ascii") for lab in labels)
    if not _HOST_RE.fullmatch(host := host.lower()):
        raise ValueError(f"bad host: {host!r}")
    return host


def _split(url: str) -> tuple[str, str, int | None, str, str]:
    """(scheme, host, port or None when default, raw path, raw query) of an absolute http(s) URL."""
    parts = urlsplit(_clean(url))  # raises ValueError on e.g. an unclosed "["
    if (scheme := parts.scheme.lower()) not in _DEFAULT_PORTS:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if not parts.hostname:
        raise ValueError(f"no host: {url!r}")
    bracketed = parts.netloc.rpartition("@")[2].startswith("[")
    host = _encode_host(f"[{parts.hostname}]" if bracketed else parts.hostname)
    port = parts.port  # raises ValueError when not a number in 0-65535
    return scheme, host, (None if port == _DEFAULT_PORTS[scheme] else port), parts.path, parts.query


def _normalise_pct(text: str, safe: frozenset[str]) -> str:
    def fix(match: re.Match[str]) -> str:
        token = match.group()
        if len(token) == 3:  # "%XX": decode only unreserved characters, upper-case the rest
            char = chr(int(token[1:], 16))
            return char if char in _UNRESERVED else token.upper()
        if token in _UNRESERVED or token in safe:
            return token
        return "".join(f"%{b:02X}" for b in token.encode("utf-8", "surrogatepass"))  # a stray "%" too

    return _PCT_OR_CHAR.sub(fix, text)


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for seg in path.split("/")[1:]:
        if seg == "..":
            out = out[:-1]
        elif seg != ".":
            out.append(seg)
    # a path ending in "." or ".." names a directory: "/a/b/.." is "/a/"
    return "/" + "/".join(out) + ("/" if out and path.endswith(("/.", "/..")) else "")


def _strip_amp_path(path: str) -> str:
    # "/news/amp/x" and "/slug/amp/" (whole "amp" segments), "/x.amp", "/x.amp.html"
    segments = [s for s in path.split("/") if s != "amp"]
    last = segments[-1] if len(segments) > 1 else ""
    if last.endswith(".amp.html") and len(last) > len(".amp.html"):
        segments[-1] = last.removesuffix(".amp.html") + ".html"
    elif last.endswith(".amp") and len(last) > len(".amp"):
        segments[-1] = last.removesuffix(".amp")
    return "/".join(segments) or "/"


def _strip_variant_host(host: str) -> str:
    while True:
        label, _, rest = host.partition(".")
        if label not in VARIANT_HOST_LABELS or _is_local(rest) or registrable_domain(rest) is None:
            return host
        host = rest  # only while what remains is still a whole site, so "m.co.uk" stays


def _is_tracking(param: str) -> bool:
    key, _, value = param.partition("=")
    key = key.lower()
    return (
        key in TRACKING_PARAMS
        or key.startswith(TRACKING_PREFIXES)
        or (key, value.lower()) in TRACKING_PARAM_VALUES
    )


def _unwrap_amp_cache(host: str, path: str, query: str) -> str | None:
    """The publisher URL behind a Google AMP cache / viewer URL, or None when this is not one."""
    if host.endswith(".cdn.ampproject.org"):
        match = _AMP_CACHE_RE.fullmatch(path)
    else:
        match = _GOOGLE_AMP_RE.fullmatch(path) if _GOOGLE_HOST_RE.fullmatch(host) else None
    if match is None:
        return None
    inner = ("https://" if match.group(1) else "http://") + match.group(2)
    return inner + ("?" + query if query else "")


def canonicalize(url: str) -> str:
    """The canonical form of an http(s) URL; ValueError when it is not one or cannot be parsed."""
    scheme, host, port, path, query = _split(url)
    if (inner := _unwrap_amp_cache(host, path, query)) is not None:
        return canonicalize(inner)
    host = _strip_variant_host(host)
    path = _normalise_pct(path or "/", _PATH_SAFE)
    # until stable, so that the result is itself canonical ("/x.amp/amp", "/..amp")
    while (new_path := _strip_amp_path(_remove_dot_segments(path))) != path:
        path = new_path
    params = [p for p in _normalise_pct(query, _QUERY_SAFE).split("&") if p and not _is_tracking(p)]
    params.sort(key=lambda p: p.partition("=")[0])  # stable: repeated keys keep their order
    netloc = host if port is None else f"{host}:{port}"
    return f"{scheme}://{netloc}{path}" + ("?" + "&".join(params) if params else "")


def resolve_link(href: str | None, base: str | None) -> tuple[str | None, str | None]:
    """(absolute http(s) URL, None) or (None, reason). The URL is resolved, not canonicalised.

    Reasons: "missing", "unsupported scheme: <scheme>", "relative without base", "unparseable".
    """
    if href is None or not (href := _clean(href)):
        return None, "missing"
    match = _SCHEME_RE.match(href)
    if match and match.group(1).lower() not in _DEFAULT_PORTS:
        return None, f"unsupported scheme: {match.group(1).lower()}"
    if not match:
        try:
            _split(base or "")
        except ValueError:
            return None, "relative without base"
        href = urljoin(_clean(base or ""), href)
    try:
        _split(href)
    except ValueError:
        return None, "unparseable"
    return href, None


@lru_cache(maxsize=4096)
def registrable_domain(host: str) -> str | None:
    """eTLD+1 of a host by the bundled Public Suffix List (private section included), in punycode.

    IP literals and "localhost" give the host itself; a bare public suffix or an unknown TLD gives None.
    """
    try:
        host = _encode_host(host.strip())
    except ValueError:
        return None
    if _is_local(host):
        return host.strip("[]")
    _OfflinePSL.get_tld_names()  # loads once; TldIOError (never a download) if the list is unreadable
    result = tld.get_tld(
        host, as_object=True, fail_silently=True, fix_protocol=True, parser_class=_OfflinePSL
    )
    if not isinstance(result, tld.Result) or result.tld == host:
        return None
    return result.fld


def same_site(a: str, b: str) -> bool:
    """Whether two absolute http(s) URLs share a registrable domain (IP/localhost: same host and port)."""
    try:
        scheme_a, host_a, port_a, _, _ = _split(a)
        scheme_b, host_b, port_b, _, _ = _split(b)
    except ValueError:
        return False
    if _is_local(host_a) or _is_local(host_b):
        port_a = _DEFAULT_PORTS[scheme_a] if port_a is None else port_a
        port_b = _DEFAULT_PORTS[scheme_b] if port_b is None else port_b
        return (host_a, port_a) == (host_b, port_b)
    site_a, site_b = registrable_domain(host_a), registrable_domain(host_b)
    if site_a is None or site_b is None:  # unknown TLD: only the very same host is the same site
        return host_a == host_b
    return site_a == site_b


def choose_canonical(fetched_url: str, declared: str | None) -> str:
    """The page's declared <link rel="canonical">, canonicalised, when it is trustworthy; else the fetched URL's.

    Trusted: resolvable to http(s), on the same site, and not the home page standing in for a deeper page
    (a CMS bug that would merge every article into one). ValueError only if fetched_url itself is unusable.
    """
    fallback = canonicalize(fetched_url)
    resolved, _ = resolve_link(declared, fetched_url)
    if resolved is None or not same_site(fallback, resolved):
        return fallback
    try:
        candidate = canonicalize(resolved)
    except ValueError:
        return fallback
    if _split(candidate)[3:] == ("/", "") and _split(fallback)[3:] != ("/", ""):
        return fallback
    return candidate
