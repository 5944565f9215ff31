#!/usr/bin/env python3
"""Lists the files of a crate that import each other, directly or through a longer cycle.

A file imports another when it names an item defined there: through a `use` path or a path
written out in code (`crate::…`, `super::…`, `self::…`, or a child module), followed through the
`pub use` re-exports of facade modules to the file that defines the item. Declaring a child
(`mod foo;`) is not an import, and test-only files are left out. Exits 1 when a cycle exists, so
the test script fails on one.
"""
import os
import re
import sys

USE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.M)
PUB_USE = re.compile(r"^\s*pub(?:\([^)]*\))?\s+use\s+([^;]+);", re.M)
PATH = re.compile(r"\b((?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)+)")
COMMENT = re.compile(r"//.*$", re.M)
INLINE_TESTS = re.compile(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{")
TEST_MOD = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[path\s*=\s*\"([^\"]+)\"\]\s*)?mod\s+(\w+)\s*;")


def modules(src):
    """Maps each module path (a tuple) to its file, leaving out files that only tests compile."""
    found, test_only = {}, set()
    for root, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src)[:-3].split(os.sep)
            if rel in (["lib"], ["main"]):
                rel = []
            elif rel[-1] == "mod":
                rel = rel[:-1]
            found[tuple(rel)] = path
            text = open(path, encoding="utf-8").read()
            for file_attr, _ in TEST_MOD.findall(text):
                if file_attr:
                    test_only.add(os.path.normpath(os.path.join(os.path.dirname(path), file_attr)))
            for _, module in TEST_MOD.findall(text):
                base = rel if rel else []
                test_only.add(os.path.normpath(os.path.join(src, *base, module + ".rs")))
    return {m: p for m, p in found.items() if os.path.normpath(p) not in test_only}


def expand(tree):
    """`a::{b, c::{d}}` becomes ['a::b', 'a::c::d']."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+\w+", "", tree))
    brace = tree.find("{")
    if brace < 0:
        return [tree]
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    return [p for part in parts if part for p in expand(prefix + part)]


def absolute(module, path, mods):
    """The path as segments from the crate root, or None for another crate's path."""
    segments = path.split("::")
    if segments[0] == "crate":
        return segments[1:]
    if segments[0] in ("super", "self"):
        base, rest = list(module), segments
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
        return base + rest
    if tuple(module) + (segments[0],) in mods:
        return list(module) + segments  # A 2018-edition relative path to a child module.
    return None


def main(crates):
    cycles = []
    for src in crates:
        mods = modules(src)
        texts = {m: COMMENT.sub("", INLINE_TESTS.split(open(p, encoding="utf-8").read())[0]) for m, p in mods.items()}
        # What each module re-exports: item name -> absolute path of its definition.
        reexports = {m: {} for m in mods}
        for m, text in texts.items():
            for tree in PUB_USE.findall(text):
                for used in expand(tree):
                    full = absolute(m, used, mods)
                    if full:
                        reexports[m][full[-1]] = full

        def resolve(full, depth=0):
            for n in range(len(full), -1, -1):
                module = tuple(full[:n])
                if module in mods:
                    rest = full[n:]
                    if rest and rest[0] in reexports[module] and depth < 16:
                        target = reexports[module][rest[0]]
                        if target != full:
                            return resolve(target + rest[1:], depth + 1)
                    return module
            return None

        edges = {m: set() for m in mods}
        for module, text in texts.items():
            paths = [p for tree in USE.findall(text) for p in expand(tree)]
            paths += PATH.findall(USE.sub("", text))
            for used in paths:
                if used.endswith("::*"):
                    used = used[:-3]
                full = absolute(module, used, mods)
                target = resolve(full) if full is not None else None
                if target is not None and target != module:
                    edges[module].add(target)
        # Strongly connected components (Tarjan): each one of more than one file is a cycle.
        index, low, stack, on, counter = {}, {}, [], set(), [0]

        def visit(v):
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
                component = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    cycles.append((src, sorted(mods[c] for c in component)))

        sys.setrecursionlimit(10000)
        for v in mods:
            if v not in index:
                visit(v)
    for src, files in cycles:
        print(f"import cycle in {src}: " + " <-> ".join(files))
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or [d + "/src" for d in ("domain", "commands", "projections", "infra", "api")]))
