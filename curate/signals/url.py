"""URL and domain signals: the host a document was crawled from, its registered domain and TLD.

The URL comes from the document's metadata (field `url`, as the JSONL/CSV/Parquet readers
and the WARC reader store it; `URL_FIELD`). A document without one, or with one that is not
a URL with a host, gets null signals: a recipe's rule on a null signal fails, as for every
other signal.

Normalisation, so that a URL and a blocklist line name a host the same way
(curate/urllists.py uses `url_host_path` too):

- the host is lower-cased, its port and trailing dot dropped;
- an internationalised name is written in its ASCII form (punycode, `xn--...`, IDNA 2003 as
  Python's codec has it), so `münchen.de` and `xn--mnchen-3ya.de` are one host;
- an IP address is kept as written (IPv6 without brackets); it has no registered domain
  other than itself and no TLD;
- a URL over MAX_URL_CHARS characters, a host over 253 characters or with a label over 63,
  or a host with characters no host name holds, is no URL (null signals).

Registered domain: the label above the host's public suffix (`bbc.co.uk`, `python.org`), by
the Public Suffix List snapshot that ships inside tldextract (ICANN section; nothing is
fetched: `suffix_list_urls=()`). A host under no known suffix (`.test`, `.example`,
`localhost`) is read as its last two labels (`cityscope.test`), where the PSL leaves room.
The TLD is the host's last label (`uk` for `bbc.co.uk`), so a rule `url_tld: {allow: [uk]}`
keeps `.co.uk` and `.ac.uk` alike.
"""
from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import urlsplit

import polars as pl

from curate.signals.batch import Batch
from curate.signals.registry import Family

URL_FIELD = "url"
# RFC 9110 asks for at least 8000 octets of request line; longer is no real page's URL.
MAX_URL_CHARS = 8192
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}:")
# Labels of letters, digits, '-' and '_', 1..63 characters. DNS forbids a hyphen at a label's end,
# but blog hosts serve such names (`clips-.blogspot.com`) and the UT1 lists hold hundreds of them.
_HOST_RE = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")

FAMILY = Family("url", source="Public Suffix List (tldextract's bundled snapshot); RedPajama / datatrove URL filters")
SIGNALS = (
    FAMILY.signal(
        name="url_domain", dtype="VARCHAR", version="v1",
        meaning="the URL's host, lower-case, IDN as punycode, no port; null without a URL",
    ),
    FAMILY.signal(
        name="url_registered_domain", dtype="VARCHAR", version="v1",
        meaning="the host's registered domain (one label above its public suffix: bbc.co.uk)",
    ),
    FAMILY.signal(
        name="url_tld", dtype="VARCHAR", version="v1",
        meaning="the host's top-level domain, its last label (uk, com, xn--p1ai); null for an IP",
    ),
)


def normalize_host(host: str) -> str | None:
    """A host name as the signals write it (see the module's docstring), or None if it is none."""
    host = host.strip().rstrip(".").lower()
    if not host or len(host) > 1024:
        return None
    if _HOST_RE.fullmatch(host):  # the common case, an ASCII name (or a dotted IPv4), first: it is cheap
        return host if len(host) <= 253 else None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))  # IPv6
    except ValueError:
        pass
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if len(host) > 253 or not _HOST_RE.fullmatch(host):
        return None
    return host


def url_host_path(url: object) -> tuple[str, str] | None:
    """(normalised host, path with query) of a URL, or None when it has no usable host.

    A URL without a scheme (`example.com/page`) is read as a host and a path; one whose
    scheme is not followed by `//` (`mailto:`, `javascript:`) has no host.
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        return None
    url = url.strip()
    scheme = _SCHEME_RE.match(url)
    if scheme is None:
        if not url.startswith("//"):
            url = "//" + url  # `example.com/page`
    elif not url.startswith("//", scheme.end()):
        return None  # mailto:, javascript:, data: ... name no host
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:  # an unbalanced IPv6 bracket
        return None
    host = netloc.rpartition("@")[2]
    if host.startswith("["):
        host = host[: host.find("]") + 1]
    else:
        host = host.partition(":")[0]
    host = normalize_host(host) if host else None
    if host is None or (scheme is None and "." not in host):  # `12345`, `yes`: no URL without a scheme
        return None
    path = parts.path or "/"
    return host, path + (f"?{parts.query}" if parts.query else "")


@lru_cache(maxsize=1)
def _extractor():
    import tldextract  # imported here: `curate --help` imports no signal dependency

    # suffix_list_urls=(): never fetch; the snapshot inside the package is the list.
    # cache_dir=None: nothing written under the user's home.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=1 << 16)
def domain_parts(host: str) -> tuple[str, str | None]:
    """(registered domain, TLD) of a normalised host."""
    try:
        ipaddress.ip_address(host)
        return host, None
    except ValueError:
        pass
    labels = host.split(".")
    r = _extractor().extract_str(host)
    if r.suffix and r.domain:
        registered = f"{r.domain}.{r.suffix}"
    elif r.suffix:  # the host is itself a public suffix (`co.uk`)
        registered = host
    else:  # under no known suffix: its last two labels
        registered = ".".join(labels[-2:])
    return registered, labels[-1]


def url_signals(url: object) -> tuple[str | None, str | None, str | None]:
    """(url_domain, url_registered_domain, url_tld) of one URL; nulls when it is none."""
    hp = url_host_path(url)
    if hp is None:
        return None, None, None
    host = hp[0]
    registered, tld = domain_parts(host)
    return host, registered, tld


@FAMILY.computes(*SIGNALS)
def score(b: Batch) -> pl.DataFrame:
    urls = getattr(b, "urls", None)
    rows = [url_signals(u) for u in urls] if urls is not None else [(None, None, None)] * b.n
    cols = list(zip(*rows)) if rows else [(), (), ()]
    return pl.DataFrame({s.name: pl.Series(s.name, list(col), dtype=pl.String) for s, col in zip(SIGNALS, cols)})
