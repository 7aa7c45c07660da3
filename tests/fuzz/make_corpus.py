#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz (one small valid input of each kind the harnesses
take, plus a few near misses). Run from the repository root; the files are committed."""
import gzip, io, json, os, struct
import numpy as np

root = "tests/fuzz/corpus"


def put(harness, name, data):
    os.makedirs(f"{root}/{harness}", exist_ok=True)
    with open(f"{root}/{harness}/{name}", "wb") as f:
        f.write(data)


def npy(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


rng = np.random.default_rng(0)
x = rng.normal(size=(5, 3)).astype(np.float32)
# fuzz_data: byte 0 = format (0 npy, 1 fvecs, 2 bvecs, 3 raw, 4 idx) + limit bits, byte 1 = raw columns
put("data", "npy_f4", bytes([0, 0]) + npy(x))
put("data", "npy_f2", bytes([0, 0]) + npy(x.astype(np.float16)))
put("data", "npy_f8", bytes([0, 0]) + npy(x.astype(np.float64)))
put("data", "npy_u1", bytes([0, 0]) + npy((np.abs(x) * 40).astype(np.uint8)))
put("data", "npy_1d", bytes([8, 0]) + npy(x[:, 0].copy()))
put("data", "fvecs", bytes([1, 0]) + b"".join(struct.pack("<i", 3) + r.tobytes() for r in x))
put("data", "bvecs", bytes([2, 0]) + b"".join(struct.pack("<i", 3) + bytes([1, 2, 3]) for _ in range(4)))
put("data", "raw", bytes([3, 3]) + x.tobytes())
idx = struct.pack(">I", 0x803) + struct.pack(">III", 2, 2, 2) + bytes(range(8))
put("data", "idx", bytes([4, 0]) + idx)
put("data", "idx_gz", bytes([4, 0]) + gzip.compress(idx))
# fuzz_labels: byte 0 = expected count (low 4 bits), limit flag (high bit)
put("labels", "text", bytes([3]) + b"0\n1\n2\n")
put("labels", "npy_i8", bytes([3]) + npy(np.array([0, 1, 2], np.int64)))
put("labels", "npy_u2_col", bytes([3]) + npy(np.array([[0], [1], [2]], np.uint16)))
lab = struct.pack(">I", 0x801) + struct.pack(">I", 3) + bytes([0, 1, 2])
put("labels", "idx", bytes([3]) + lab)
put("labels", "idx_gz", bytes([3]) + gzip.compress(lab))
put("labels", "limited", bytes([0x82]) + b"4\n5\n6\n")
# fuzz_config: YAML, NUL, then --set lines
for name in ["nomad", "tsne", "umap-forces"]:
    with open(f"configs/{name}.yaml", "rb") as f:
        put("config", name, f.read() + b"\0optimizer.epochs=3\nnegatives={exact: 8}\nseed=null\ndata.labels=\n")
put("config", "flow", b"{data: {path: x.npy, limit: 10}, optimizer: {lr_scale: 0.5}, sweep: {grid: {seed: [1, 2]}}}\0dims=3\n")
put("config", "errors", b"optimizer:\n  epochs:\n  lr: fast\n\0a..b=1\n=3\noptimizer.epochs\n")
# fuzz_sweep_json: a run.json's shape, and grid value lists
rec = {"status": "ok", "data": {"n": 4}, "metrics": {"np": 0.25, "k": 10}, "config": {"seed": 1, "l": [1, 2.5e-3, None, True]},
       "stage_seconds": {"ann": 0.5}, "s": "a\\u00e9\"b"}
put("sweep_json", "record", json.dumps(rec).encode())
put("sweep_json", "list", b"8,32,{plugin: x},[1, 2],\"a,b\"")
put("sweep_json", "nested", b'[[[{"a": [1, {"b": -0.0e+1}]}]]]')
# fuzz_checkpoint: a whole checkpoint of 3 points in 2-d after 2 epochs, a loss state of 8 bytes
def checkpoint(n=3, dims=2, epochs=2, plugin=(0, 8)):
    head = b"NOMADCK1" + struct.pack("<QiiqqQQ", 0x1234, 2, dims, n, epochs, *plugin)
    body = np.arange(2 * n * dims, dtype=np.float32).tobytes() + np.arange(2 * epochs, dtype=np.float64).tobytes()
    body += bytes(plugin[0]) + bytes(range(plugin[1]))
    h = 0xCBF29CE484222325
    for b in head + body:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return head + body + struct.pack("<Q", h)
put("checkpoint", "whole", checkpoint())
put("checkpoint", "torn", checkpoint()[:-3])
put("checkpoint", "3d", checkpoint(n=2, dims=3, epochs=1, plugin=(4, 0)))
