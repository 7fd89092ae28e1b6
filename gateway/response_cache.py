"""Whole-response cache for anonymous reads of the public catalog.

What is cached: the answer to an HTTP request without a signed-in viewer whose operation is a
query selecting only CACHEABLE_ROOT_FIELDS, when it executed without errors. Never cached:
signed-in viewers (their contract prices and drafts differ per company), mutations,
subscriptions, batches, introspection, answers with errors, documents too large to parse on the
event loop (schema.is_large_document: classifying one would parse it there). `node` is left out
on purpose: it reaches every type (orders, quotes, price lists, users), and only the catalog's
changes are tracked here.

The key is the sha256 of: the sha256 of the document text (exactly the hash an automatic
persisted query sends, so a hash-only request shares the entry of its full text; on a miss its
document comes from the view's persisted-query store, to be classified), the operation name and
the variables as canonical JSON. Nothing else chooses what an anonymous answer holds:
currency comes only from arguments (`products(currency:)`, `priceRange(currency:)`...), never
from a header; the Accept header chooses the media type, set afresh on every answer.

Invalidation: one catalog generation, a counter in Redis (`<prefix>rc:generation`). Every
write to what the catalog types read says `tx.changed(catalog=True)` (resolvers/transactions.py),
and its commit INCRs the generation:
createProduct, updateProduct, setStock, checkout, acceptQuote, cancelling or shipping an order
(stock released or consumed), price lists, setFxRate, updateCompany (a seller's name),
createWarehouse (stockLevels). The rule is the tables, not today's anonymous fields: price
lists never show to anonymous viewers, but a rule that needs no such reasoning stays right as
the schema grows, and these writes are rare. Each entry records the generation read *before*
its query ran, and is served only while that is still the current one. So a write makes every
cached answer unreachable at once, on every replica, including answers being computed while it
committed. The INCR is awaited before the mutation answers, so its client's next read shows
the change. One round trip reads both (MGET). Without REDIS_URL the same lives in process (an
LRU bounded in bytes).

Fail open: when Redis errors, the request runs as if there were no cache (and Redis is left
alone for REDIS_RETRY_SECONDS). A lost INCR leaves answers stale for at most the TTL.

A hit is served without running the schema: it is not charged by the rate limit, and its
`extensions.cost` is the stored one minus `throttleStatus` (that described the bucket of the
client whose request filled the entry).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
)
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import Response
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData

from gateway.limits import MAX_EXPANDED_SELECTIONS, expanded_selections
from gateway.metrics import count_cache
from gateway.persisted import requested_id
from schema import is_large_document
from settings import Settings

log = logging.getLogger("gateway.response_cache")

# Root fields whose answers depend only on the catalog (and on nothing of the viewer's when
# anonymous). Writes to what they read must say `tx.changed(catalog=True)`.
CACHEABLE_ROOT_FIELDS = frozenset({"products", "product", "categories", "__typename"})
# Larger answers are not stored (a full 100-product page with variants is ~150 KB).
MAX_STORED_BODY_BYTES = 512 * 1024
# The in-process store (no REDIS_URL): least recently used entries go first past this.
IN_PROCESS_MAX_BYTES = 64 * 1024 * 1024
# Documents remembered as cacheable or not (each parsed once).
CLASSIFIED_DOCUMENTS = 1000
REDIS_RETRY_SECONDS = 5.0

Execute = Callable[[Request], Awaitable[Any]]


def is_public_catalog_read(document: DocumentNode, operation_name: str | None) -> bool:
    """Whether the operation the request runs is a query of CACHEABLE_ROOT_FIELDS only."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation != OperationType.QUERY:
        return False
    # A fragment bomb (each fragment spreading the next twice) would make the walk below
    # exponential: such documents are refused before execution anyway, so never cached.
    size = expanded_selections(document)
    if size is None or size > MAX_EXPANDED_SELECTIONS:
        return False
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return _selects_only_cacheable(operations[0].selection_set, fragments, frozenset())


def _selects_only_cacheable(
    selection: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: frozenset[str],
) -> bool:
    for node in selection.selections:
        if isinstance(node, FieldNode):
            if node.name.value not in CACHEABLE_ROOT_FIELDS:
                return False
        elif isinstance(node, InlineFragmentNode):
            if not _selects_only_cacheable(node.selection_set, fragments, seen):
                return False
        elif isinstance(node, FragmentSpreadNode):
            fragment = fragments.get(node.name.value)
            if fragment is None or node.name.value in seen:  # validation refuses it anyway
                return False
            if not _selects_only_cacheable(
                fragment.selection_set, fragments, seen | {node.name.value}
            ):
                return False
        else:
            return False
    return True


NO_PERSISTED_QUERY = b""


def _persisted_hash(request: GraphQLRequestData) -> bytes | None:
    """The sha256 a request names its document by (`documentId` or APQ's hash;
    NO_PERSISTED_QUERY when it names none; None when the id is malformed, which the view
    refuses: gateway/persisted.py)."""
    named = requested_id(request)
    if isinstance(named, GraphQLError):
        return None
    return NO_PERSISTED_QUERY if named is None else bytes.fromhex(named)


def clean_body(response: Any) -> bytes | None:
    """The body to store when `response` is a whole answer without errors, else None."""
    body = getattr(response, "body", None)
    if response.status_code != 200 or not isinstance(body, bytes):
        return None
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(answer, dict) or "errors" in answer or answer.get("data") is None:
        return None
    extensions = answer.get("extensions")
    cost = extensions.get("cost") if isinstance(extensions, dict) else None
    if isinstance(cost, dict) and "throttleStatus" in cost:
        # Another client's bucket: a hit neither charges nor reports one.
        del cost["throttleStatus"]
        return orjson.dumps(answer)
    return body


@dataclass(slots=True)
class Lookup:
    """A request the cache may answer: its key, and what the store held for it."""

    key: str
    # The catalog generation read before the query ran (None: unknown, so nothing is stored).
    generation: bytes | None
    # Whether the document is known to be a public catalog read.
    storable: bool
    body: bytes | None = None
    stored_at: float = 0.0


@dataclass(slots=True)
class _Keyed:
    key: str
    storable: bool
    # The hash of a persisted query sent without its text (its document is looked up and
    # classified on a miss only).
    by_hash: str | None
    operation_name: str | None


def _entry(generation: bytes, body: bytes) -> bytes:
    return b"%b %.3f\n%b" % (generation, time.time(), body)


def _read_entry(entry: bytes | None, generation: bytes) -> tuple[bytes, float] | None:
    """The body and storage time of an entry of the current generation."""
    if entry is None:
        return None
    header, _, body = entry.partition(b"\n")
    stored_generation, _, stored_at = header.partition(b" ")
    if stored_generation != generation:
        return None
    try:
        return body, float(stored_at)
    except ValueError:
        return None


class InProcessStore:
    """The generation and entries of one process (no REDIS_URL: one worker)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.generation = 0
        self.entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self.size = 0

    def get(self, key: str) -> tuple[bytes, bytes | None]:
        generation = str(self.generation).encode()
        found = self.entries.get(key)
        if found is None:
            return generation, None
        entry, expires_at = found
        if expires_at <= time.monotonic():
            self._drop(key)
            return generation, None
        self.entries.move_to_end(key)
        return generation, entry

    def put(self, key: str, entry: bytes, ttl: float) -> None:
        if key in self.entries:
            self._drop(key)
        self.entries[key] = (entry, time.monotonic() + ttl)
        self.size += len(entry)
        while self.size > self.max_bytes and self.entries:
            self._drop(next(iter(self.entries)))

    def bump(self) -> None:
        self.generation += 1
        self.entries.clear()  # unreachable now
        self.size = 0

    def _drop(self, key: str) -> None:
        entry, _ = self.entries.pop(key)
        self.size -= len(entry)


class ResponseCache:
    def __init__(self, settings: Settings, redis: Redis | None) -> None:
        self.ttl = settings.response_cache_ttl_seconds
        self.max_tokens = settings.max_tokens
        self.redis = redis
        self.prefix = settings.redis_key_prefix + "rc:"
        self.generation_key = self.prefix + "generation"
        self.memory = InProcessStore(IN_PROCESS_MAX_BYTES)
        self.classified: OrderedDict[tuple[bytes, str | None], bool] = OrderedDict()
        self.redis_retry_at = 0.0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    async def catalog_changed(self) -> None:
        """Make every stored answer unreachable (on every replica sharing the Redis).

        Done even when this process does not cache (TTL 0): other replicas may."""
        if self.redis is None:
            self.memory.bump()
            return
        try:
            await self.redis.incr(self.generation_key)
        except Exception as error:  # fail open: answers stay stale for at most the TTL
            log.warning("response cache: could not bump the catalog generation: %r", error)

    async def serve(self, view: GraphQL[Any, Any], request: Request, execute: Execute) -> Any:
        """Answer `request` from the cache, or run it (`execute`) and store a clean answer."""
        lookup = await self.look_up(view, request) if self.enabled else None
        if lookup is None:
            return await execute(request)
        count_cache(hit=lookup.body is not None)
        if lookup.body is not None:
            media_type = (await view.get_sub_response(request)).media_type
            response = Response(lookup.body, 200, media_type=media_type)
            self._label(response, request, "HIT", public=True, age=time.time() - lookup.stored_at)
            return response
        response = await execute(request)
        body = clean_body(response) if lookup.storable else None
        if body is not None and lookup.generation is not None:
            await self._store(lookup.key, lookup.generation, body)
        self._label(response, request, "MISS", public=body is not None, age=None)
        return response

    async def look_up(self, view: GraphQL[Any, Any], request: Request) -> Lookup | None:
        """The cache entry this request may be answered with (None: not a cacheable request,
        or the store is unreachable)."""
        keyed = await self._key(view, request)
        if keyed is None:
            return None
        key = keyed.key
        generation: bytes | None
        entry: bytes | None
        if self.redis is None:
            generation, entry = self.memory.get(key)
        else:
            if time.monotonic() < self.redis_retry_at:
                return None
            try:
                values = await self.redis.mget([self.generation_key, self.prefix + key])
                generation, entry = (v.encode() if isinstance(v, str) else v for v in values)
                if generation is None:
                    # First use, or Redis lost it: start at a random value, so entries stored
                    # under an earlier count can never match again.
                    await self.redis.set(self.generation_key, secrets.randbits(62), nx=True)
            except Exception as error:
                self._redis_failed(error)
                return None
        lookup = Lookup(key, generation, keyed.storable)
        if generation is not None:
            stored = _read_entry(entry, generation)
            if stored is not None:
                lookup.body, lookup.stored_at = stored
        if lookup.body is None and keyed.by_hash is not None:
            lookup.storable = await self._is_persisted_catalog_read(
                view, keyed.by_hash, keyed.operation_name
            )
        return lookup

    async def _key(self, view: GraphQL[Any, Any], request: Request) -> _Keyed | None:
        viewer = getattr(request.state, "viewer", None)
        if request.method not in ("GET", "POST") or viewer is None:
            return None
        if viewer.user_id is not None or viewer.company_id is not None:
            return None
        adapter = view.request_adapter_class(request)
        if view.should_render_graphql_ide(adapter):
            return None
        if request.method == "POST":
            # Read outside the `try`: a body over the limit must fail as it does uncached.
            await request.body()
        try:
            data = await view.parse_http_body(adapter)
        except Exception:  # the view answers the same request with the error
            return None
        if isinstance(data, list) or data.protocol != "http":
            return None
        operation_name = data.operation_name  # a string or None: the view's request_data checked
        persisted = _persisted_hash(data)
        if persisted is None:
            return None
        by_hash = None
        if isinstance(data.query, str):
            if is_large_document(data.query):
                return None  # see _is_public_catalog_read; not even worth hashing
            document = hashlib.sha256(data.query.encode("utf-8", "surrogatepass")).digest()
            if persisted not in (NO_PERSISTED_QUERY, document):
                return None  # refused by the view: the hash is not the document's
            if not self._is_public_catalog_read(document, data.query, operation_name):
                return None
        elif persisted != NO_PERSISTED_QUERY:
            # By hash alone: answered from the entry of its text; classified on a miss only.
            document, by_hash = persisted, persisted.hex()
        else:
            return None
        try:
            rest = orjson.dumps([operation_name, data.variables or {}], option=orjson.OPT_SORT_KEYS)
        except TypeError:  # e.g. an integer beyond 64 bits: not worth a key
            return None
        key = hashlib.sha256(document + rest).hexdigest()
        return _Keyed(key, by_hash is None, by_hash, operation_name)

    async def _is_persisted_catalog_read(
        self, view: GraphQL[Any, Any], digest: str, operation_name: str | None
    ) -> bool:
        """Whether the document stored under an APQ hash is a public catalog read (the view's
        persisted-query store checks that the document has that hash)."""
        persisted_queries = getattr(view, "persisted_queries", None)
        if persisted_queries is None:
            return False
        try:
            query = await persisted_queries.look_up(digest)
        except Exception:  # the view answers the request with its own verdict
            return False
        if not isinstance(query, str):
            return False
        return self._is_public_catalog_read(bytes.fromhex(digest), query, operation_name)

    def _is_public_catalog_read(
        self, document_hash: bytes, query: str, operation_name: str | None
    ) -> bool:
        if is_large_document(query):
            # Not cacheable: classifying means parsing, and a large document must not be
            # parsed on the event loop (the view parses it on a thread of its own).
            return False
        memo = (document_hash, operation_name)
        known = self.classified.get(memo)
        if known is not None:
            self.classified.move_to_end(memo)
            return known
        try:
            document = parse(query, no_location=True, max_tokens=self.max_tokens)
        except GraphQLError:
            verdict = False
        else:
            verdict = is_public_catalog_read(document, operation_name)
        self.classified[memo] = verdict
        if len(self.classified) > CLASSIFIED_DOCUMENTS:
            self.classified.popitem(last=False)
        return verdict

    async def _store(self, key: str, generation: bytes, body: bytes) -> None:
        if len(body) > MAX_STORED_BODY_BYTES:
            return
        entry = _entry(generation, body)
        if self.redis is None:
            self.memory.put(key, entry, self.ttl)
            return
        try:
            await self.redis.set(self.prefix + key, entry, ex=self.ttl)
        except Exception as error:
            self._redis_failed(error)

    def _redis_failed(self, error: Exception) -> None:
        if time.monotonic() >= self.redis_retry_at:
            log.warning(
                "response cache: Redis failed (%r); not caching for %.0f s",
                error,
                REDIS_RETRY_SECONDS,
            )
        self.redis_retry_at = time.monotonic() + REDIS_RETRY_SECONDS

    def _label(
        self, response: Response, request: Request, outcome: str, *, public: bool, age: float | None
    ) -> None:
        """X-Cache, and HTTP caching for GET: a public answer may be reused by browsers and
        CDNs for the TTL (they are not told of invalidations: the TTL bounds the staleness)."""
        response.headers["x-cache"] = outcome
        if public and request.method == "GET":
            response.headers["cache-control"] = f"public, max-age={self.ttl}"
            response.headers["vary"] = "Authorization, Accept"
            if age is not None:
                response.headers["age"] = str(max(int(age), 0))
        else:
            response.headers["cache-control"] = "no-store"
