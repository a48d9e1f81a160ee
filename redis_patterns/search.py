"""Full-text search two ways with one interface: RediSearch's ``FT.*``, or an inverted index of sets.

Documents are hashes (``HSET doc:<id> name ... description ... category ...``)
in both cases; what differs is the index.

- ``ModuleSearch`` (RediSearch): ``FT.CREATE idx ON HASH PREFIX 1 <doc prefix>
  SCHEMA name TEXT WEIGHT 2 description TEXT category TAG``.  The server
  indexes every hash under the prefix as it is written (and the existing
  ones in the background), with stemming, stop words and TF-IDF ranking.
  ``FT.SEARCH idx "word1 word2" LIMIT 0 n NOCONTENT`` returns the best
  matches and the total.
- ``CoreSearch`` (core Redis): one set per token (``term:<token>`` ->
  document ids), maintained beside each document (``SREM`` from the tokens it
  had, ``SADD`` to the ones it has, in one ``MULTI``; the document keeps its
  token list in a ``_tokens`` field for that).  A query is ``SINTER`` of its
  tokens' sets: every word must match, no stemming, no ranking (results in
  id order).  That is the honest difference the page shows.

Tokens
    Lowercase runs of ``[a-z0-9]``, two characters or more; the same rule
    for documents and queries, so they meet.

Round trips
    index: 1 (core: 2, reading the old tokens first) · query: 1.

Cluster
    ``CoreSearch`` keeps every set and document under one hash tag (one slot),
    which is what makes ``SINTER`` possible there.  RediSearch on a Cluster
    needs its coordinator (Redis Enterprise / Redis 8 cluster), not covered here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

from redis.exceptions import ResponseError

_TOKEN = re.compile(r"[a-z0-9]{2,}")
MAX_TERMS = 8


def tokens(text: str) -> list[str]:
    """The searchable words of ``text``, in order, without repeats."""
    return list(dict.fromkeys(_TOKEN.findall(text.lower())))


class Search(Protocol):
    kind: str

    def index(self, doc_id: int, fields: dict[str, str]) -> None: ...
    def remove(self, doc_id: int) -> None: ...
    def query(self, text: str, *, limit: int = 10) -> tuple[int, list[int]]: ...


class CoreSearch:
    """An inverted index on sets (see the module docstring)."""

    kind = "core"

    def __init__(self, client: Any, *, doc_key: Callable[[int], str], term_key: Callable[[str], str]) -> None:
        self.client, self.doc_key, self.term_key = client, doc_key, term_key

    def index(self, doc_id: int, fields: dict[str, str], *, pipe: Any = None) -> None:
        """Write the document and move it between term sets (old tokens read first, unless ``pipe`` is given).

        With ``pipe`` (a bulk build into an empty index), nothing is read and
        the commands are only queued.
        """
        new = tokens(" ".join(fields.values()))
        old = [] if pipe is not None else (self.client.hget(self.doc_key(doc_id), "_tokens") or "").split()
        target = pipe if pipe is not None else self.client.pipeline(transaction=True)
        for token in set(old) - set(new):
            target.srem(self.term_key(token), doc_id)
        for token in new:
            target.sadd(self.term_key(token), doc_id)
        target.hset(self.doc_key(doc_id), mapping={**fields, "_tokens": " ".join(new)})
        if pipe is None:
            target.execute()

    def remove(self, doc_id: int) -> None:
        old = (self.client.hget(self.doc_key(doc_id), "_tokens") or "").split()
        pipe = self.client.pipeline(transaction=True)
        for token in old:
            pipe.srem(self.term_key(token), doc_id)
        pipe.delete(self.doc_key(doc_id))
        pipe.execute()

    def query(self, text: str, *, limit: int = 10) -> tuple[int, list[int]]:
        words = tokens(text)[:MAX_TERMS]
        if not words:
            return 0, []
        ids = sorted(int(i) for i in self.client.sinter([self.term_key(w) for w in words]))
        return len(ids), ids[:limit]


class ModuleSearch:
    """RediSearch over the same document hashes (see the module docstring)."""

    kind = "module"

    def __init__(self, client: Any, *, index_name: str, doc_prefix: str, doc_key: Callable[[int], str]) -> None:
        self.client, self.index_name, self.doc_prefix, self.doc_key = client, index_name, doc_prefix, doc_key
        self._created = False

    def ensure(self) -> None:
        """``FT.CREATE`` once (an existing index is fine): it then follows every hash under the prefix."""
        if self._created:
            return
        try:
            self.client.execute_command(
                "FT.CREATE", self.index_name, "ON", "HASH", "PREFIX", 1, self.doc_prefix,
                "SCHEMA", "name", "TEXT", "WEIGHT", 2, "description", "TEXT", "category", "TAG")
        except ResponseError as exc:
            if "already exists" not in str(exc).lower():
                raise
        self._created = True

    def drop(self) -> None:
        """``FT.DROPINDEX`` (the documents stay)."""
        try:
            self.client.execute_command("FT.DROPINDEX", self.index_name)
        except ResponseError:
            pass
        self._created = False

    def indexing(self) -> bool:
        """Is the server still indexing existing documents in the background?"""
        raw = self.client.execute_command("FT.INFO", self.index_name)
        info = raw if isinstance(raw, dict) else {str(raw[i]): raw[i + 1] for i in range(0, len(raw) - 1, 2)}
        return str(info.get("indexing", "0")) not in ("0", "0.0")

    def index(self, doc_id: int, fields: dict[str, str], *, pipe: Any = None) -> None:
        self.ensure()
        target = pipe if pipe is not None else self.client
        target.hset(self.doc_key(doc_id), mapping=fields)

    def remove(self, doc_id: int) -> None:
        self.client.delete(self.doc_key(doc_id))

    def query(self, text: str, *, limit: int = 10) -> tuple[int, list[int]]:
        words = tokens(text)[:MAX_TERMS]
        if not words:
            return 0, []
        self.ensure()
        reply = self.client.execute_command("FT.SEARCH", self.index_name, " ".join(words),
                                            "LIMIT", 0, limit, "NOCONTENT")
        if isinstance(reply, dict):  # RESP3
            results = reply.get("results", [])
            return int(reply.get("total_results", 0)), [int(str(r["id"]).rsplit(":", 1)[1]) for r in results]
        total, keys = int(reply[0]), reply[1:]
        return total, [int(str(k).rsplit(":", 1)[1]) for k in keys]
