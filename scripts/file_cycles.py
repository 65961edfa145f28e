#!/usr/bin/env python3
"""File-level import cycles inside each crate of the workspace (issue 33).

For every `.rs` file under `crates/*/src`, the files it refers to through `crate::…`,
`super::…` and `self::…` paths (in `use` items and inline paths), resolved to the file that
defines the module. Names re-exported by the crate root (`pub use a::X;` in lib.rs/main.rs)
resolve to the module they come from; `mod` declarations are not references. Prints every
strongly connected component of two or more files and exits 1 if there is one that
`scripts/file_cycles.known` does not list (each line: one known cycle's files, space-separated;
a cycle inside a known one's files is known). The known list only shrinks (issue 33: to none).

    python3 scripts/file_cycles.py [ROOT]
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

PATH_RE = re.compile(r"\b(crate|super|self)((?:::(?:\{[^;]*?\}|[A-Za-z_][A-Za-z0-9_]*))+)")


def module_of(src: Path, f: Path) -> tuple[str, ...]:
    rel = f.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts in (["lib"], ["main"]):
        return ()
    if parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def expand(tail: str) -> list[list[str]]:
    """`::a::{b, c::d}` -> [[a, b], [a, c, d]] (one level of braces, nested ones kept whole)."""
    tail = tail.lstrip(":")
    if "{" not in tail:
        return [tail.split("::")]
    head, _, rest = tail.partition("{")
    prefix = [p for p in head.split("::") if p]
    inner = rest.rsplit("}", 1)[0]
    out, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    out.append(cur)
    paths = []
    for item in out:
        item = item.strip().split(" as ")[0].strip()
        if not item:
            continue
        for sub in expand("::" + item):
            paths.append(prefix + sub)
    return paths


def crate_edges(src: Path) -> dict[Path, set[Path]]:
    files = sorted(src.rglob("*.rs"))
    modules = {module_of(src, f): f for f in files}
    roots = [f for f in files if module_of(src, f) == ()]
    reexports: dict[str, tuple[str, ...]] = {}
    for root in roots:
        for m in re.finditer(r"pub use ((?:crate::|self::)?[A-Za-z_][\w:]*(?:::\{[^;]*\})?);",
                             strip_comments(root.read_text())):
            for path in expand("::" + m.group(1).replace("crate::", "").replace("self::", "")):
                if len(path) >= 2:
                    reexports[path[-1]] = tuple(path[:-1])

    def resolve(path: list[str]) -> Path | None:
        path = [p for p in path if p and p != "*"]
        for n in range(len(path), 0, -1):
            if tuple(path[:n]) in modules:
                return modules[tuple(path[:n])]
        if path and path[0] in reexports:
            return resolve(list(reexports[path[0]]))
        return None

    edges: dict[Path, set[Path]] = {f: set() for f in files}
    for f in files:
        here = list(module_of(src, f))
        text = strip_comments(f.read_text())
        for m in PATH_RE.finditer(text):
            kind, tail = m.group(1), m.group(2)
            for path in expand(tail):
                if kind == "crate":
                    full = path
                elif kind == "self":
                    full = here + path
                else:
                    base = list(here)
                    rest = list(path)
                    base = base[:-1]
                    while rest and rest[0] == "super":
                        base, rest = base[:-1], rest[1:]
                    full = base + rest
                target = resolve(full)
                if target is not None and target != f and module_of(src, target) != ():
                    edges[f].add(target)
    return edges


def cycles(edges: dict[Path, set[Path]]) -> list[list[Path]]:
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v: Path) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return out


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    known_file = root / "scripts" / "file_cycles.known"
    known = [
        set(line.split())
        for line in (known_file.read_text().splitlines() if known_file.exists() else [])
        if line.strip() and not line.startswith("#")
    ]
    found, new = [], []
    for src in sorted(root.glob("crates/*/src")):
        for comp in cycles(crate_edges(src)):
            names = [str(p.relative_to(root)) for p in comp]
            found.append(names)
            is_known = any(set(names) <= k for k in known)
            if not is_known:
                new.append(names)
            print(("known cycle: " if is_known else "NEW cycle: ") + " <-> ".join(names))
    print(f"{len(found)} file cycle(s), {len(new)} new")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
