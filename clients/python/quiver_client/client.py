"""Quiver REST client: indexes, vectors, search, filters, payload indexes, admin."""
import http.client
import json
import ssl
import struct
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

try:  # optional: MessagePack bodies with binary vectors
    import msgpack  # type: ignore
except ImportError:  # pragma: no cover - depends on the environment
    msgpack = None

JSON = "application/json"
MSGPACK = "application/msgpack"

Vector = Sequence[float]
Metadata = Optional[Mapping[str, Any]]
Item = Union[Mapping[str, Any], Tuple[Any, ...]]

# A 429 or 503 is retried after the server's Retry-After, never longer than this.
MAX_RETRY_WAIT_S = 10.0


class _Keep:
    """The `metadata` default of `upsert`: keep what is stored (API.md: absent)."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


class QuiverError(Exception):
    """An error answer (docs/API.md "Errors"), or a transport failure (status 0)."""

    def __init__(self, status: int, code: str, message: str,
                 details: Optional[Dict[str, Any]] = None, retry_after: Optional[float] = None):
        super().__init__("%s %s: %s" % (status, code, message))
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after


@dataclass
class Hit:
    id: str
    distance: float
    metadata: Optional[Dict[str, Any]] = None
    vector: Optional[List[float]] = None


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class Quiver:
    """One server (or gateway) at `url`, e.g. Quiver("http://127.0.0.1:4210").

    `api_key` selects the tenant (or the admin, for `/v1/admin`); `retries` is how
    many times a request answered 429 or 503 is sent again (after the server's
    Retry-After) and how many times a dropped connection is reopened. Upserts and
    searches are idempotent; a retried delete may report fewer deletions than it
    made (the first try may have applied before the 503).
    """

    def __init__(self, url: str = "http://127.0.0.1:4210", api_key: Optional[str] = None,
                 timeout: float = 30.0, retries: int = 3, use_msgpack: Optional[bool] = None,
                 ssl_context: Optional[ssl.SSLContext] = None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must look like http://HOST:PORT or https://HOST:PORT, not %r" % url)
        if use_msgpack and msgpack is None:
            raise ValueError("use_msgpack=True needs the msgpack package")
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._base = parts.path.rstrip("/")
        self._ssl = ssl_context
        self.api_key = api_key
        self.timeout = timeout
        self.retries = max(0, retries)
        self.use_msgpack = (msgpack is not None) if use_msgpack is None else use_msgpack
        self._conn: Optional[http.client.HTTPConnection] = None

    # -- plumbing --

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "Quiver":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(self._host, self._port,
                                                         timeout=self.timeout, context=self._ssl)
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port,
                                                        timeout=self.timeout)
        return self._conn

    def _encode(self, body: Any, binary: bool) -> Tuple[bytes, str]:
        if binary and self.use_msgpack:
            return msgpack.packb(body, use_bin_type=True), MSGPACK
        return json.dumps(body, separators=(",", ":")).encode(), JSON

    def _vector(self, v: Vector) -> Any:
        floats = [float(x) for x in v]
        if self.use_msgpack:
            return struct.pack("<%df" % len(floats), *floats)
        return floats

    def request(self, method: str, path: str, body: Any = None, binary: bool = False) -> Any:
        """Sends one request (retrying as the class says) and returns the decoded
        answer; raises QuiverError for an error status. `binary`: the body holds
        vectors and goes as MessagePack when that is on."""
        headers = {"Accept": MSGPACK if binary and self.use_msgpack else JSON}
        payload = None
        if body is not None:
            payload, headers["Content-Type"] = self._encode(body, binary)
        if self.api_key:
            headers["Authorization"] = "Bearer " + self.api_key
        attempt = 0
        while True:
            try:
                conn = self._connection()
                conn.request(method, self._base + path, body=payload, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    ConnectionRefusedError, http.client.CannotSendRequest) as e:
                # A kept-alive connection the server closed, or a server restarting.
                self.close()
                if attempt >= self.retries:
                    raise QuiverError(0, "connection", "%s %s: %s" % (method, path, e)) from e
                attempt += 1
                time.sleep(min(MAX_RETRY_WAIT_S, 0.1 * 2 ** attempt))
                continue
            except OSError as e:  # timeouts and the rest: the request may be in progress
                self.close()
                raise QuiverError(0, "connection", "%s %s: %s" % (method, path, e)) from e
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
            decoded = self._decode(data, resp.getheader("Content-Type", ""))
            if 200 <= resp.status < 300:
                return decoded
            err = decoded.get("error", {}) if isinstance(decoded, dict) else {}
            wait = _retry_after(resp.getheader("Retry-After"))
            error = QuiverError(resp.status, err.get("code", "http_%d" % resp.status),
                                err.get("message", data[:200].decode("utf-8", "replace")),
                                err.get("details"), wait)
            if resp.status not in (429, 503) or attempt >= self.retries:
                raise error
            attempt += 1
            time.sleep(min(MAX_RETRY_WAIT_S, wait if wait is not None else 0.2 * 2 ** attempt))

    @staticmethod
    def _decode(data: bytes, content_type: str) -> Any:
        if not data:
            return None
        if content_type.startswith(MSGPACK) and msgpack is not None:
            return msgpack.unpackb(data, raw=False)
        try:
            return json.loads(data)
        except ValueError:
            return {"error": {"code": "bad_answer", "message": data[:200].decode("utf-8", "replace")}}

    @staticmethod
    def _q(s: str) -> str:
        return urllib.parse.quote(s, safe="")

    def _index(self, name: str) -> str:
        return "/v1/indexes/" + self._q(name)

    # -- health --

    def health(self) -> Dict[str, Any]:
        return self.request("GET", "/healthz")

    def ready(self) -> bool:
        """True when every shard of every index serves (GET /readyz)."""
        try:
            self.request("GET", "/readyz")
            return True
        except QuiverError as e:
            if e.status == 503:
                return False
            raise

    def cluster(self) -> Dict[str, Any]:
        return self.request("GET", "/v1/cluster")

    # -- indexes --

    def create_index(self, name: str, dimension: int, distance: str = "cosine",
                     **params: Any) -> Dict[str, Any]:
        """Creates an index (idempotent with the same params). `params`: m,
        ef_construction, ef_search, shards, replicas, embedder (what turns a
        `text` into its vectors: "hash-v1" or one the server's config names)."""
        body = {"name": name, "dimension": dimension, "distance": distance}
        body.update({k: v for k, v in params.items() if v is not None})
        return self.request("POST", "/v1/indexes", body)

    def list_indexes(self) -> List[Dict[str, Any]]:
        return self.request("GET", "/v1/indexes")["indexes"]

    def describe_index(self, name: str) -> Dict[str, Any]:
        return self.request("GET", self._index(name))

    def drop_index(self, name: str) -> bool:
        return bool(self.request("DELETE", self._index(name))["deleted"])

    # -- vectors --

    def upsert(self, index: str, id: str, vector: Optional[Vector] = None,
               metadata: Metadata = KEEP, *, text: Optional[str] = None) -> int:
        """Stores one vector, or the vector of `text` (an index with an embedder);
        returns its log sequence number. `metadata`: omitted keeps the stored
        metadata, {} clears it."""
        body: Dict[str, Any] = self._vector_or_text(vector, text)
        if metadata is not KEEP:
            body["metadata"] = metadata
        out = self.request("PUT", self._index(index) + "/vectors/" + self._q(id), body, binary=True)
        return int(out["seq"])

    def upsert_batch(self, index: str, items: Iterable[Item], batch_size: int = 1000) -> int:
        """Upserts (id, vector[, metadata]) tuples or {"id", "vector" | "text",
        "metadata"?} dicts in batches of `batch_size`; returns how many were
        upserted."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        total, batch = 0, []
        for item in items:
            batch.append(self._item(item))
            if len(batch) == batch_size:
                total += self._send_batch(index, batch)
                batch = []
        if batch:
            total += self._send_batch(index, batch)
        return total

    def _vector_or_text(self, vector: Optional[Vector], text: Optional[str]) -> Dict[str, Any]:
        if (vector is None) == (text is None):
            raise ValueError("give a vector or a text, not both and not neither")
        return {"vector": self._vector(vector)} if vector is not None else {"text": text}

    def _item(self, item: Item) -> Dict[str, Any]:
        if isinstance(item, Mapping):
            out = {"id": item["id"], **self._vector_or_text(item.get("vector"), item.get("text"))}
            if "metadata" in item:
                out["metadata"] = item["metadata"]
            return out
        if len(item) not in (2, 3):
            raise ValueError("an item is (id, vector) or (id, vector, metadata)")
        out = {"id": item[0], "vector": self._vector(item[1])}
        if len(item) == 3:
            out["metadata"] = item[2]
        return out

    def _send_batch(self, index: str, batch: List[Dict[str, Any]]) -> int:
        out = self.request("POST", self._index(index) + "/vectors", {"items": batch}, binary=True)
        return int(out["upserted"])

    def get(self, index: str, id: str) -> Optional[Dict[str, Any]]:
        """{"id", "vector", "metadata"} or None when the id is not stored."""
        try:
            return self.request("GET", self._index(index) + "/vectors/" + self._q(id), binary=True)
        except QuiverError as e:
            if e.code == "vector_not_found":
                return None
            raise

    def delete(self, index: str, id: str) -> bool:
        out = self.request("DELETE", self._index(index) + "/vectors/" + self._q(id))
        return bool(out["deleted"])

    def delete_many(self, index: str, ids: Optional[Sequence[str]] = None,
                    filter: Optional[Mapping[str, Any]] = None) -> int:
        """Deletes the listed ids, or every vector a filter matches (one of the two)."""
        if (ids is None) == (filter is None):
            raise ValueError("give ids or filter, not both and not neither")
        body = {"ids": list(ids)} if ids is not None else {"filter": filter}
        return int(self.request("POST", self._index(index) + "/vectors/delete", body)["deleted"])

    def count(self, index: str, filter: Optional[Mapping[str, Any]] = None) -> int:
        body = {"filter": filter} if filter is not None else {}
        return int(self.request("POST", self._index(index) + "/count", body)["count"])

    def ids(self, index: str, page_size: int = 1000) -> Iterator[str]:
        """Every live id once, fetched `page_size` at a time."""
        cursor: Optional[str] = None
        while True:
            query = {"limit": str(page_size)}
            if cursor:
                query["cursor"] = cursor
            page = self.request("GET", self._index(index) + "/ids?" + urllib.parse.urlencode(query))
            yield from page["ids"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def merge(self, index: str, source: str, delete_source: bool = False) -> int:
        body = {"source": source, "delete_source": delete_source}
        return int(self.request("POST", self._index(index) + "/merge", body)["merged"])

    # -- search --

    def _query(self, query: Union[Vector, str], k: int,
               options: Mapping[str, Any]) -> Dict[str, Any]:
        body: Dict[str, Any] = (self._vector_or_text(None, query) if isinstance(query, str)
                                else self._vector_or_text(query, None))
        body["k"] = k
        for key, value in options.items():
            if value is not None:
                body[key] = list(value) if key == "exclude_ids" else value
        return body

    @staticmethod
    def _hits(results: List[Dict[str, Any]]) -> List[Hit]:
        return [Hit(r["id"], float(r["distance"]), r.get("metadata"), r.get("vector"))
                for r in results]

    def search(self, index: str, vector: Union[Vector, str], k: int = 10, *,
               ef: Optional[int] = None,
               filter: Optional[Mapping[str, Any]] = None,
               exclude_ids: Optional[Sequence[str]] = None,
               include_metadata: Optional[bool] = None, include_vectors: Optional[bool] = None,
               allow_partial: Optional[bool] = None) -> List[Hit]:
        """The k nearest vectors, nearest first. A str is a text, embedded by the
        index's embedder."""
        body = self._query(vector, k, {"ef": ef, "filter": filter, "exclude_ids": exclude_ids,
                                       "include_metadata": include_metadata,
                                       "include_vectors": include_vectors,
                                       "allow_partial": allow_partial})
        return self._hits(self.request("POST", self._index(index) + "/search", body,
                                       binary=True)["results"])

    def search_batch(self, index: str, vectors: Sequence[Union[Vector, str]], k: int = 10,
                     **options: Any) -> List[List[Hit]]:
        """One search per vector or text (same options for each), answers in order."""
        queries = [self._query(v, k, options) for v in vectors]
        out = self.request("POST", self._index(index) + "/search/batch", {"queries": queries},
                           binary=True)
        return [self._hits(r) for r in out["results"]]

    def embed(self, texts: Sequence[str], embedder: Optional[str] = None,
              dimension: Optional[int] = None) -> List[List[float]]:
        """The vectors of `texts` from an embedder (default hash-v1 at 768)."""
        body: Dict[str, Any] = {"texts": list(texts)}
        if embedder is not None:
            body["embedder"] = embedder
        if dimension is not None:
            body["dimension"] = dimension
        return self.request("POST", "/v1/embed", body)["vectors"]

    # -- payload indexes --

    def create_field_index(self, index: str, field: str, type: str) -> Dict[str, Any]:
        return self.request("PUT", self._index(index) + "/fields/" + self._q(field),
                            {"type": type})

    def list_field_indexes(self, index: str) -> List[Dict[str, Any]]:
        return self.request("GET", self._index(index) + "/fields")["fields"]

    def drop_field_index(self, index: str, field: str) -> bool:
        out = self.request("DELETE", self._index(index) + "/fields/" + self._q(field))
        return bool(out["deleted"])

    # -- admin (needs the admin key) --

    def create_tenant(self, name: str, quotas: Optional[Mapping[str, int]] = None) -> Dict[str, Any]:
        """Returns {"name", "api_key"}: the key is shown only once."""
        body: Dict[str, Any] = {"name": name}
        if quotas:
            body["quotas"] = dict(quotas)
        return self.request("POST", "/v1/admin/tenants", body)

    def list_tenants(self) -> List[Dict[str, Any]]:
        return self.request("GET", "/v1/admin/tenants")["tenants"]

    def get_tenant(self, name: str) -> Dict[str, Any]:
        return self.request("GET", "/v1/admin/tenants/" + self._q(name))

    def drop_tenant(self, name: str) -> bool:
        return bool(self.request("DELETE", "/v1/admin/tenants/" + self._q(name))["deleted"])

    def rotate_key(self, name: str) -> str:
        """A new API key for the tenant; the old one stops working at once."""
        return self.request("POST", "/v1/admin/tenants/" + self._q(name) + "/keys")["api_key"]
