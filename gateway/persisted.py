"""Persisted queries: Apollo's automatic persisted queries (APQ) and trusted documents.

APQ, over POST and GET: a request may name its document by hash,
`extensions.persistedQuery = {"version": 1, "sha256Hash": "<hex>"}`, instead of sending it. So
may a top-level `documentId` (GraphQL over HTTP's persisted documents). Either id is the hex
SHA-256, or the same prefixed `sha256:<hex>` (GraphQL Code Generator's ids).

- hash alone: the document stored under it runs; unknown, the answer is `PersistedQueryNotFound`
  (`PERSISTED_QUERY_NOT_FOUND`, status 200 whatever the media type: Apollo Client turns
  persisted queries off for good after a 400) and the client sends hash and document;
- hash and document: the hash must be the document's SHA-256 (else BAD_USER_INPUT, before
  anything runs); the document runs and, once it has run (parsed, valid, executed), is stored.

The store is Redis (`<prefix>apq:<hash>`, 30 days, shared by every replica) behind a small
in-process LRU; without REDIS_URL the LRU alone. A Redis error reads as "not found" (the client
then sends the document, which runs) and a failed write is only logged: persisted queries save
bandwidth, they are never the reason a request fails.

Trusted documents (TRUSTED_DOCUMENTS_FILE, a manifest checked at start-up by settings.py) are
known to every replica from the start. With TRUSTED_DOCUMENTS_ONLY nothing else runs: a
document that is not in the manifest is refused (`PERSISTED_QUERY_ID_REQUIRED`), so is an
unknown hash (`PERSISTED_QUERY_NOT_IN_LIST`, the codes of Apollo's router), and nothing is
added to the store. A registered document sent as text runs: it is the same document.

Over WebSocket (both protocols) a subscribe message may name its document the same ways (payload
`documentId` or `extensions.persistedQuery.sha256Hash`, beside no `query` or the empty one the
graphql-ws client must send): the document is put in the message
before Strawberry's handler reads it, and an unknown id is answered with the operation's error.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from graphql import GraphQLError
from redis.asyncio import Redis
from strawberry.extensions import SchemaExtension
from strawberry.http import GraphQLRequestData
from strawberry.types.execution import PreExecutionError

from settings import Settings

log = logging.getLogger("gateway.persisted")

APQ_TTL_SECONDS = 30 * 86_400
# The in-process LRU, in characters of documents (about as many bytes for ASCII text).
LOCAL_CAPACITY_CHARACTERS = 10_000_000

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
ID_REQUIRED = "PERSISTED_QUERY_ID_REQUIRED"

_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
SHA256_PREFIX = "sha256:"


def document_hash(document: str) -> str:
    """The SHA-256 of a document's UTF-8 text, lowercase hex (what APQ clients send)."""
    # surrogatepass: a lone surrogate from a JSON escape must not crash the hashing; such a
    # document then fails to parse like any other bad one.
    return hashlib.sha256(document.encode("utf-8", "surrogatepass")).hexdigest()


def persisted_query_not_found() -> GraphQLError:
    # Message and code exactly as Apollo clients look for them.
    return GraphQLError("PersistedQueryNotFound", extensions={"code": NOT_FOUND})


def not_in_list() -> GraphQLError:
    return GraphQLError(
        "PersistedQueryNotInList: only the documents registered with this server run here",
        extensions={"code": NOT_IN_LIST},
    )


def id_required() -> GraphQLError:
    return GraphQLError(
        "only registered documents run here: send the operation's sha256Hash in "
        "extensions.persistedQuery instead of a free-form query",
        extensions={"code": ID_REQUIRED},
    )


def bad_request(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


def asks_for_the_document(response_data: object) -> bool:
    """Whether an answer is the APQ miss that asks the client to send its document: it is
    answered 200 even as application/graphql-response+json (Apollo's server does the same)."""
    if not isinstance(response_data, dict) or "data" in response_data:
        return False
    errors = response_data.get("errors")
    return (
        isinstance(errors, list)
        and len(errors) == 1
        and isinstance(errors[0], dict)
        and (errors[0].get("extensions") or {}).get("code") == NOT_FOUND
    )


class DocumentLRU:
    """Documents by hash, least recently used dropped first, bounded in characters."""

    def __init__(self, capacity_characters: int) -> None:
        self.capacity = capacity_characters
        self.size = 0
        self.documents: OrderedDict[str, str] = OrderedDict()

    def get(self, digest: str) -> str | None:
        document = self.documents.get(digest)
        if document is not None:
            self.documents.move_to_end(digest)
        return document

    def put(self, digest: str, document: str) -> None:
        if len(document) > self.capacity:
            return
        previous = self.documents.pop(digest, None)
        if previous is not None:
            self.size -= len(previous)
        self.documents[digest] = document
        self.size += len(document)
        while self.size > self.capacity:
            _, dropped = self.documents.popitem(last=False)
            self.size -= len(dropped)


@dataclass
class PersistedRequestData(GraphQLRequestData):
    """A request's operation with the id of a persisted document (`documentId`), if any."""

    document_id: str | None = field(default=None, kw_only=True)


def requested_id(request: GraphQLRequestData) -> str | GraphQLError | None:
    """The SHA-256 (lowercase hex) a request names its document by, from `documentId` or
    `extensions.persistedQuery`; None when it names none; the error for a malformed one."""
    document_id = request.document_id if isinstance(request, PersistedRequestData) else None
    persisted = (request.extensions or {}).get("persistedQuery")
    digest: str | None = None
    if persisted is not None:
        if not isinstance(persisted, dict):
            return bad_request("extensions.persistedQuery must be an object")
        if persisted.get("version") != 1:
            return bad_request("unsupported persisted query version: only version 1 is")
        digest = sha256_of_id(persisted.get("sha256Hash"))
        if digest is None:
            return bad_request(
                "extensions.persistedQuery.sha256Hash must be the SHA-256 of the query, in hex"
            )
    if document_id is not None:
        named = sha256_of_id(document_id)
        if named is None:
            return bad_request("documentId must be the document's SHA-256: `sha256:<hex>`")
        if digest is not None and named != digest:
            return bad_request("documentId and extensions.persistedQuery name different documents")
        if request.query is not None:
            return bad_request("send either documentId or query, not both")
        digest = named
    return digest


def sha256_of_id(value: object) -> str | None:
    """The lowercase hex of a `<hex>` or `sha256:<hex>` id; None when it is not one."""
    if not isinstance(value, str):
        return None
    hex_digest = value.removeprefix(SHA256_PREFIX)
    return hex_digest.lower() if _SHA256_HEX.match(hex_digest) else None


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a request runs, and the hash to store its document under once it has run (an APQ
    registration)."""

    request: GraphQLRequestData
    register: str | None = None


class PersistedQueries:
    def __init__(
        self,
        redis: Redis | None,
        key_prefix: str,
        trusted: Mapping[str, str] | None = None,
        *,
        trusted_only: bool = False,
        local_capacity_characters: int = LOCAL_CAPACITY_CHARACTERS,
    ) -> None:
        self.redis = redis
        self.key_prefix = f"{key_prefix}apq:"
        self.trusted: Mapping[str, str] = trusted or {}
        self.trusted_only = trusted_only
        self.local = DocumentLRU(local_capacity_characters)

    @classmethod
    def from_settings(cls, settings: Settings, redis: Redis | None) -> PersistedQueries:
        return cls(
            redis,
            settings.redis_key_prefix,
            settings.trusted_documents,
            trusted_only=settings.trusted_documents_only,
        )

    async def resolve(self, request: GraphQLRequestData) -> Resolved | GraphQLError:
        """The request to run, or the error to answer it with (before anything runs)."""
        digest = requested_id(request)
        if isinstance(digest, GraphQLError):
            return digest
        if digest is None:
            query = request.query
            if self.trusted_only and query is not None and document_hash(query) not in self.trusted:
                return id_required()
            return Resolved(request)
        if request.query is not None:
            if document_hash(request.query) != digest:
                return bad_request("provided sha does not match query")
            if digest in self.trusted:
                return Resolved(request)
            if self.trusted_only:
                return not_in_list()
            return Resolved(request, register=digest)
        document = await self.look_up(digest)
        if document is None:
            return not_in_list() if self.trusted_only else persisted_query_not_found()
        return Resolved(replace(request, query=document))

    async def remember(self, resolved: Resolved, result: Any) -> None:
        """Store a registration's document once it has run: a document that failed to parse
        or validate (or was refused) is never stored."""
        if resolved.register is None or isinstance(result, PreExecutionError):
            return
        document = resolved.request.query
        assert document is not None
        await self.store(resolved.register, document)

    async def look_up(self, digest: str) -> str | None:
        document = self.trusted.get(digest)
        if document is not None or self.trusted_only:
            return document
        document = self.local.get(digest)
        if document is not None or self.redis is None:
            return document
        try:
            stored = await self.redis.get(self.key_prefix + digest)
        except Exception as error:  # fail open: the client sends the document instead
            log.warning("persisted queries: Redis lookup failed: %r", error)
            return None
        if stored is None:
            return None
        document = stored.decode("utf-8", "surrogatepass") if isinstance(stored, bytes) else stored
        # A corrupted or foreign entry must not run in place of the hashed document.
        if document_hash(document) != digest:
            return None
        self.local.put(digest, document)
        return document

    async def store(self, digest: str, document: str) -> None:
        known = self.local.get(digest) is not None
        self.local.put(digest, document)
        if self.redis is None or known:
            return
        try:
            await self.redis.set(
                self.key_prefix + digest,
                document.encode("utf-8", "surrogatepass"),
                ex=APQ_TTL_SECONDS,
            )
        except Exception as error:  # fail open: the next replica asks for the document again
            log.warning("persisted queries: Redis write failed: %r", error)


class TrustedDocumentsOnly(SchemaExtension):
    """With TRUSTED_DOCUMENTS_ONLY, every operation on every transport must be a registered
    document. HTTP requests are refused earlier (PersistedQueries.resolve, before parsing);
    this covers WebSocket operations, which arrive as text."""

    def __init__(self, documents: Mapping[str, str]) -> None:
        self.documents = documents

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and document_hash(context.query) not in self.documents:
            # Replace, not add to, the document's own validation errors: they would describe
            # the schema to a client that may not run free-form documents.
            context.pre_execution_errors = [id_required()]
        yield


def persisted_query_extensions(settings: Settings) -> list[Any]:
    """The schema extensions persisted queries ask for: with TRUSTED_DOCUMENTS_ONLY, the check
    that covers WebSocket operations."""
    if not settings.trusted_documents_only or settings.trusted_documents_file is None:
        return []
    documents = settings.trusted_documents
    return [lambda: TrustedDocumentsOnly(documents)]


# --- WebSocket ---------------------------------------------------------------------------------

# The message that starts an operation: graphql-transport-ws's, and legacy graphql-ws's.
_SUBSCRIBE_TYPES = frozenset({"subscribe", "start"})


@dataclass(frozen=True, slots=True)
class Reply:
    """A message to answer the client with instead of handing its message on."""

    message: dict[str, object]


async def resolve_subscribe_message(store: PersistedQueries, message: object) -> object:
    """A WebSocket client message with the document its subscribe (graphql-transport-ws) or
    start (graphql-ws) payload names by id put in as `query`; the error Reply when the id is
    malformed or unknown; any other message unchanged (Strawberry's handler judges it)."""
    if not isinstance(message, dict) or message.get("type") not in _SUBSCRIBE_TYPES:
        return message
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return message
    # graphql-ws's client refuses to send a payload without a string `query`, so an app that
    # names its document by id sends an empty one (graphql-ws's persisted-queries recipe).
    query = payload.get("query")
    request = PersistedRequestData(
        query=query if isinstance(query, str) and query else None,
        variables=None,
        operation_name=None,
        extensions=payload.get("extensions")
        if isinstance(payload.get("extensions"), dict)
        else None,
        document_id=payload.get("documentId") if "documentId" in payload else None,
    )
    if request.document_id is None and "persistedQuery" not in (request.extensions or {}):
        return message
    resolved = await store.resolve(request)
    if isinstance(resolved, GraphQLError):
        error = resolved.formatted
        # graphql-transport-ws sends a list of errors, graphql-ws one.
        transport_ws = message["type"] == "subscribe"
        return Reply(
            {
                "id": message.get("id"),
                "type": "error",
                "payload": [error] if transport_ws else error,
            }
        )
    # Over WebSocket a document sent with its hash only runs; it is not stored.
    return {**message, "payload": {**payload, "query": resolved.request.query}}
