"""A writer (and reader) of the seed's persisted index, for import-seed's tests.

Written from the format's description (the seed's Encode/DecodeIndex and
coder/hnsw v0.6.1's Export/Import), not from its code:
- the envelope is JSON {"version", "params": {"name", "dimension", "m",
  "ef_search", "distance"}, "metadata": {id: raw JSON}, "ids"?: [...]} (v2 has
  "ids"), as Go's json.Encoder writes it: compact, keys sorted, a newline at the
  end, <, > and & escaped as \\u003c, \\u003e, \\u0026;
- the graph: Go signed varints (zigzag) for ints, float64 LE for Ml, strings as
  varint length + bytes, vectors as varint length + float32 LE; version 1, M,
  Ml, EfSearch, distance name, layer count, and per layer its nodes: key,
  vector, neighbour count, neighbour keys.
"""
import io
import json
import random
import struct


def put_varint(out, v):
    u = (v << 1) ^ (v >> 63) if v < 0 else v << 1
    while True:
        b = u & 0x7F
        u >>= 7
        if u:
            out.write(bytes([b | 0x80]))
        else:
            out.write(bytes([b]))
            return


def get_varint(inp):
    u, shift = 0, 0
    while True:
        c = inp.read(1)
        if not c:
            raise EOFError("cut short")
        b = c[0]
        u |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return (u >> 1) ^ -(u & 1)


def put_string(out, s):
    b = s.encode()
    put_varint(out, len(b))
    out.write(b)


def get_string(inp):
    n = get_varint(inp)
    b = inp.read(n)
    if len(b) != n:
        raise EOFError("cut short")
    return b.decode()


def put_vector(out, v):
    put_varint(out, len(v))
    out.write(struct.pack("<%df" % len(v), *v))


def get_vector(inp):
    n = get_varint(inp)
    b = inp.read(4 * n)
    if len(b) != 4 * n:
        raise EOFError("cut short")
    return list(struct.unpack("<%df" % n, b))


def graph_bytes(vectors, m=16, ml=0.25, ef_search=20, distance="cosine", seed=1):
    """coder/hnsw Export bytes of {id: vector}: every node in layer 0, a random
    quarter of them in layer 1, each with up to m random neighbours per layer."""
    rng = random.Random(seed)
    ids = list(vectors)
    layers = [ids]
    upper = [i for i in ids if rng.random() < 0.25]
    if upper:
        layers.append(upper)
    out = io.BytesIO()
    for v in (1, m):
        put_varint(out, v)
    out.write(struct.pack("<d", ml))
    put_varint(out, ef_search)
    put_string(out, distance)
    put_varint(out, len(layers))
    for layer in layers:
        put_varint(out, len(layer))
        order = layer[:]
        rng.shuffle(order)  # Go walks a map: any order
        for key in order:
            put_string(out, key)
            put_vector(out, vectors[key])
            others = [k for k in rng.sample(layer, min(len(layer), m + 1)) if k != key][:m]
            put_varint(out, len(others))
            for k in others:
                put_string(out, k)
    return out.getvalue()


def read_graph(data):
    """(params, [ {id: (vector, neighbours)} per layer ]) from Export bytes."""
    inp = io.BytesIO(data)
    version, m = get_varint(inp), get_varint(inp)
    (ml,) = struct.unpack("<d", inp.read(8))
    ef, dist = get_varint(inp), get_string(inp)
    layers = []
    for _ in range(get_varint(inp)):
        nodes = {}
        for _ in range(get_varint(inp)):
            key, vec = get_string(inp), get_vector(inp)
            nodes[key] = (vec, [get_string(inp) for _ in range(get_varint(inp))])
        layers.append(nodes)
    if inp.read(1):
        raise ValueError("bytes after the last layer")
    return {"version": version, "m": m, "ml": ml, "ef_search": ef, "distance": dist}, layers


def go_json(value, sort_keys=True):
    """json.Encoder's compact output for a value without raw parts: a map's keys
    sorted, a struct's fields (sort_keys=False) in declaration order."""
    s = json.dumps(value, separators=(",", ":"), sort_keys=sort_keys, ensure_ascii=False)
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def envelope_bytes(version, params, raw_metadata, ids=None):
    """The envelope; raw_metadata maps id -> the raw JSON text stored for it
    (None: Go's nil RawMessage, written as null)."""
    parts = ["{\"version\":%d" % version, "\"params\":" + go_json(params, sort_keys=False)]
    meta = ",".join(go_json(k) + ":" + ("null" if v is None else v)
                    for k, v in sorted(raw_metadata.items()))
    parts.append("\"metadata\":{" + meta + "}")
    if ids is not None:
        parts.append("\"ids\":" + go_json(ids))
    return (",".join(parts) + "}\n").encode()
