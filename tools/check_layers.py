"""The layer contract of ``src/calserver``: each layer imports only downward, the import
graph has no cycle, and the package is imported at module level only.

Run ``python tools/check_layers.py`` (the unit test ``tests/test_layout.py`` runs the same
check in CI). It reads the source with ``ast``; nothing is imported. Exit status 1 and one
line per problem when the contract is broken.

A module belongs to the layer of the longest prefix of its name in :data:`LAYERS`. A
module may import modules of its own layer or of a lower one; within a layer the graph
must still be acyclic.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

#: Bottom to top: (layer name, module name prefixes).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "L0 core",
        (
            "calserver",
            "calserver.config",
            "calserver.errors",
            "calserver.context",
            "calserver.urls",
            "calserver.keys",
            "calserver.outbound",
            "calserver.signedlinks",
        ),
    ),
    (
        "L1 pure protocol",
        (
            "calserver.ical",
            "calserver.ical.compose",
            "calserver.feeds.rss",
            "calserver.scheduling.itip",
            "calserver.scheduling.calendar_address",
            "calserver.sharing.redact",
            "calserver.sharing.visibility",
            "calserver.contacts.vcard",
            "calserver.push.crypto",
            "calserver.contacts.card",
            "calserver.reminders.timing",
            "calserver.reminders.smstext",
            "calserver.reminders.clock",
            "calserver.ical.subscription",
        ),
    ),
    ("L2 database", ("calserver.db", "calserver.outage", "calserver.staging")),
    (
        "L3 store",
        (
            "calserver.storage",
            "calserver.accounts",
            "calserver.sharing",
            "calserver.check",
        ),
    ),
    (
        "L4 services",
        (
            "calserver.calendars",
            "calserver.feeds",
            "calserver.scheduling",
            "calserver.mail",
            "calserver.addressbooks",
            "calserver.contacts",
            "calserver.importer",
            "calserver.push",
            "calserver.attachments",
            "calserver.agenda",
            "calserver.eventcolours",
            "calserver.accounts.availability",
            "calserver.contacts.listing",
            "calserver.polls",
            "calserver.reminders",
            "calserver.subscriptions",
            "calserver.remotesync",
            "calserver.search",
            "calserver.tags",
            "calserver.deletebetween",
        ),
    ),
    (
        "L5 surfaces",
        (
            "calserver.front",
            "calserver.dav",
            "calserver.web",
            "calserver.api",
            "calserver.auth",
            "calserver.rights",
            "calserver.httpauth",
            "calserver.httpbody",
            "calserver.ops",
            "calserver.feeds.web",
            "calserver.feeds.html",
            "calserver.scheduling.web",
            "calserver.polls.web",
        ),
    ),
    ("L6 composition root", ("calserver.app", "calserver.wsgi", "calserver.warmup")),
    ("L7 commands", ("calserver.run", "calserver.cli", "calserver.__main__")),
]


def layer_of(module: str) -> int:
    best, level = -1, -1
    for index, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), index
    return level


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in sorted((root / "calserver").rglob("*.py")):
        name = ".".join(path.relative_to(root).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imported(
    module: str, node: ast.Import | ast.ImportFrom, is_package: bool, known: dict[str, Path]
) -> list[str]:
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            parts = module.split(".")
            if not is_package:
                parts = parts[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join(parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        names = [base] + [f"{base}.{alias.name}" for alias in node.names]
    result = []
    for name in names:
        if name.split(".")[0] != "calserver":
            continue
        while name not in known and "." in name:
            name = name.rsplit(".", 1)[0]
        if name in known and name != module:
            result.append(name)
    return result


def check(root: Path) -> list[str]:
    known = modules(root)
    edges: dict[str, set[str]] = defaultdict(set)
    problems: list[str] = []
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        if layer_of(module) < 0:
            problems.append(f"{module}: in no layer (add it to tools/check_layers.py)")
        top_level = set(map(id, tree.body))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            targets = imported(module, node, is_package, known)
            if targets and id(node) not in top_level and not _in_type_checking(tree, node):
                problems.append(f"{path}:{node.lineno}: function-local import of {targets[0]}")
            for target in targets:
                if target == "calserver":
                    continue  # the package itself: only its version
                edges[module].add(target)
                if layer_of(target) > layer_of(module):
                    problems.append(
                        f"{path}:{node.lineno}: {module} ({LAYERS[layer_of(module)][0]}) "
                        f"imports {target} ({LAYERS[layer_of(target)][0]}), a higher layer"
                    )
    for cycle in cycles(edges):
        problems.append("import cycle: " + " -> ".join(sorted(cycle)))
    return problems


def _in_type_checking(tree: ast.Module, node: ast.AST) -> bool:
    for statement in tree.body:
        if (
            isinstance(statement, ast.If)
            and "TYPE_CHECKING" in ast.unparse(statement.test)
            and any(child is node for child in ast.walk(statement))
        ):
            return True
    return False


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in list(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def main() -> int:
    root = Path(__file__).resolve().parent.parent / "src"
    problems = check(root)
    for problem in problems:
        print(problem)
    print(
        f"{len(problems)} problem(s)"
        if problems
        else "layer contract kept: no cycle, "
        "no upward import, no function-local import of calserver"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
