"""The verifier's structure, checked: no import cycles, one cheat registry (and the docs' table matches it),
one verdict schema (Python's types and verdicts match it). No torch needed."""
from __future__ import annotations

import ast
import json
import re
import typing
from pathlib import Path

import jsonschema
import pytest

from verifier import wire
from verifier.cheats import Cheat
from verifier.tests.conftest import REPO

PKG = REPO / "verifier"
SCHEMA = json.loads((PKG / "verdict.schema.json").read_text())
# optional timing fields another branch is adding (issue 10's parallel work): in the schema, not yet in Python
PENDING_TIMING = {"method", "method_note", "host_ms", "eager_ms_interval", "compile_ms_interval",
                  "speedup_vs_eager_interval", "speedup_vs_compile_interval", "compile_mode"}
PENDING_CANDIDATE_MS = {"low", "high"}


# ---- import cycles ----------------------------------------------------------------------------------------
def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py") if "fixtures" not in p.parts and "tests" not in p.parts}


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of import nodes under ``if TYPE_CHECKING:`` (they never run)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for s in node.body for n in ast.walk(s)}
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the verifier modules it imports, at module level or inside functions."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_only(tree)
        pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                while t and t not in mods:  # verifier.x.y (a name in x) -> verifier.x
                    t = t.rpartition(".")[0]
                if t and t != name and t != "verifier":
                    graph[name].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert "verifier.verify" in graph and "verifier.stages.build" in graph["verifier.verify"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_candidate_side_does_not_import_the_parent() -> None:
    """The trust boundary: the candidate's process needs none of the parent's judging code."""
    graph = import_graph()
    parent = {"verifier.verify", "verifier.service", "verifier.channel", "verifier.reference", "verifier.compare",
              "verifier.baselines", "verifier.__main__"} | {m for m in graph if m.startswith("verifier.stages")}
    for mod in ("verifier.candidate.runner", "verifier.candidate.harness", "verifier._runner"):
        seen, todo = set(), [mod]
        while todo:
            m = todo.pop()
            for d in graph[m] - seen:
                seen.add(d)
                todo.append(d)
        assert not seen & parent, f"{mod} reaches parent modules {sorted(seen & parent)}"


# ---- the cheat registry -----------------------------------------------------------------------------------
def _docs_cheat_table() -> dict[str, str]:
    text = (REPO / "docs" / "verifier.md").read_text()
    section = text.split("## Cheat classes", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*([a-z][a-z-]+)\s*\|.*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*$", line)
        if m and m.group(1) != "class":
            rows[m.group(1)] = m.group(2)
    return rows


def test_docs_table_lists_the_registry() -> None:
    rows = _docs_cheat_table()
    assert sorted(rows) == sorted(c.value for c in Cheat)


def test_docs_table_names_each_class_stages() -> None:
    """The table's "stage" column names the modules of ``verifier.stages`` (and ``candidate``) that detect it."""
    rows = _docs_cheat_table()
    for c in Cheat:
        named = {s.strip(" `") for s in rows[c.value].split(",")}
        assert named == set(c.stages), f"{c.value}: docs say {sorted(named)}, the registry {sorted(c.stages)}"


def test_registry_entries() -> None:
    stages = {p.stem for p in (PKG / "stages").glob("*.py")} | {"candidate"}
    for c in Cheat:
        assert c.description and c.stages and set(c.stages) <= stages, c
        assert Cheat(c.value) is c and str(c) == c.value


def test_no_cheat_name_outside_the_registry() -> None:
    """Code names cheat classes through ``Cheat``, never as string literals (docstrings and messages aside)."""
    names = {c.value for c in Cheat}
    for name, path in _modules().items():
        if name == "verifier.cheats":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                pytest.fail(f"{path.relative_to(REPO)}:{node.lineno} names {node.value!r}: use verifier.cheats.Cheat")


# ---- the verdict schema -----------------------------------------------------------------------------------
def _typed_fields(td: typing.Any) -> dict[str, typing.Any]:
    return typing.get_type_hints(td)


def _typeddict_of(hint: typing.Any) -> typing.Any:
    """The TypedDict inside ``X``, ``X | None`` or ``list[X]``, else None."""
    if typing.is_typeddict(hint):
        return hint
    for arg in typing.get_args(hint):
        found = _typeddict_of(arg)
        if found is not None:
            return found
    return None


def _object_schema(node: dict[str, typing.Any]) -> dict[str, typing.Any] | None:
    if node.get("type") == "object" and "properties" in node:
        return node
    if node.get("type") == "array":
        return _object_schema(node.get("items", {}))
    for alt in node.get("anyOf", []):
        found = _object_schema(alt)
        if found is not None:
            return found
    return None


def _compare(td: typing.Any, node: dict[str, typing.Any], path: str) -> None:
    fields = _typed_fields(td)
    props = node["properties"]
    pending = PENDING_TIMING if path == "timing" else PENDING_CANDIDATE_MS if path == "timing.candidate_ms" else set()
    assert set(fields) <= set(props), f"{path}: Python fields missing from the schema: {set(fields) - set(props)}"
    missing = set(props) - set(fields) - pending
    assert not missing, f"{path}: schema fields missing from Python's types: {missing}"
    assert set(node.get("required", [])) <= set(fields), f"{path}: required fields Python lacks"
    assert node.get("additionalProperties") is False, f"{path}: the schema must close its objects"
    for k, hint in fields.items():
        sub = _typeddict_of(hint)
        if sub is not None:
            child = _object_schema(props[k])
            assert child is not None, f"{path}.{k}: an object in Python, not in the schema"
            _compare(sub, child, f"{path}.{k}".lstrip("."))


def test_python_types_match_the_schema() -> None:
    _compare(wire.Verdict, SCHEMA, "")
    assert SCHEMA["properties"]["status"]["enum"] == list(wire.STATUSES)


def test_schema_validates_a_verdict_and_refuses_an_unknown_field() -> None:
    v = wire.clean_json(wire.empty_verdict("cpu"))
    jsonschema.validate(v, SCHEMA)
    v["extra"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(v, SCHEMA)


def test_bad_request_verdict_matches_the_schema() -> None:
    from verifier.verify import verdict_for

    v, code = verdict_for('{"device": "cuda"}')
    assert code == 2 and v["env"]["device"] == "cuda" and v["message"].startswith("bad request:")
    jsonschema.validate(wire.clean_json(v), SCHEMA)
