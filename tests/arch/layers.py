#!/usr/bin/env python3
"""core/ keeps the layering docs/architecture.md draws: no file calls into a file that calls
back into it (directly or round about), and a part calls only the parts below it.

It reads the C sources as text: a file "calls" another when it names a non-static function
that the other defines. Good enough for our style (one definition per name, no function
pointers built from names); run it as `python3 tests/arch/layers.py [ROOT]`."""
import os
import re
import sys

# Top to bottom; a part may call parts of a greater rank only.
RANK = {"api": 0, "cli": 0, "sweep": 1, "dist": 2, "transform": 2, "run": 3, "fit": 4, "output": 4, "plugin_host": 5,
        "comm": 6, "config": 6, "io": 6, "base": 7, "util": 7}

root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../.."))
core = os.path.join(root, "core")
files = []
for d, _, names in os.walk(core):
    files += [os.path.join(d, n) for n in names if n.endswith(".c")]
strip = lambda s: re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", "", s, flags=re.S))
text = {f: strip(open(f, encoding="utf-8").read()) for f in files}
defined = {}
for f, s in text.items():
    for m in re.finditer(r"^(?!static\b)[A-Za-z_][\w \*]*?\b(\w+)\s*\([^;{]*\)\s*\{", s, re.M):
        defined.setdefault(m.group(1), f)
calls = {f: {defined[n] for n in set(re.findall(r"\b(\w+)\s*\(", s)) if n in defined and defined[n] != f}
         for f, s in text.items()}
rel = lambda f: os.path.relpath(f, core)
part = lambda f: rel(f).split(os.sep)[0]
bad = []

unknown = sorted({part(f) for f in files} - set(RANK))
if unknown:
    bad.append("parts with no place in the layering (add them to RANK and docs/architecture.md): "
               + ", ".join(unknown))

# cycles of files: Tarjan's strongly connected components
index, low, stack, on, order = {}, {}, [], set(), [0]
sys.setrecursionlimit(100000)
def visit(v):
    index[v] = low[v] = order[0]; order[0] += 1; stack.append(v); on.add(v)
    for w in calls[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            bad.append("files that call each other: " + ", ".join(sorted(rel(f) for f in comp)))
for f in files:
    if f not in index:
        visit(f)

for f in sorted(files):
    for g in sorted(calls[f]):
        a, b = part(f), part(g)
        if a != b and a in RANK and b in RANK and RANK[b] <= RANK[a]:
            names = sorted(n for n in set(re.findall(r"\b(\w+)\s*\(", text[f])) if defined.get(n) == g)
            bad.append(f"{rel(f)} ({a}) calls up into {rel(g)} ({b}): {', '.join(names)}")

for line in bad:
    print("FAIL -", line)
if not bad:
    print(f"ok - {len(files)} files in {len({part(f) for f in files})} parts, every call one way")
sys.exit(1 if bad else 0)
