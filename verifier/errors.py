"""Turn exceptions raised by candidate code into short messages that point at the candidate's lines."""
from __future__ import annotations

import os
import re
import traceback

MAX_MESSAGE = 1500


def _chain(exc: BaseException) -> list[BaseException]:
    out = []
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        out.append(e)
        e = e.__cause__ or (None if e.__suppress_context__ else e.__context__)
    return out


def _trim_lines(text: str, max_lines: int = 14) -> str:
    lines = [ln.rstrip() for ln in text.strip("\n").splitlines()]
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"... ({len(lines) - max_lines} more lines)"]
    return "\n".join(lines)


def is_triton_compile_error(exc: BaseException, interpret: bool) -> bool:
    names = {type(e).__name__ for e in _chain(exc)}
    mods = {type(e).__module__ for e in _chain(exc)}
    if names & {"CompilationError", "CompileTimeAssertionFailure", "UnsupportedLanguageConstruct"}:
        return True
    if any(m.startswith("triton.compiler") for m in mods):
        return True
    if interpret and "InterpreterError" in names:
        return True
    return False


def format_exception(exc: BaseException, candidate_path: str, limit: int = MAX_MESSAGE) -> str:
    """One short message: the candidate's frames (file:line, source) and the root exception's text."""
    cand_base = os.path.basename(candidate_path)
    chain = _chain(exc)
    frames_out: list[str] = []
    seen: set[tuple[int, str]] = set()
    # innermost cause first: that is where the candidate's code went wrong
    for e in reversed(chain):
        for fs in traceback.extract_tb(e.__traceback__):
            if os.path.basename(fs.filename) == cand_base or fs.filename == candidate_path:
                key = (fs.lineno or 0, fs.name)
                if key in seen:
                    continue
                seen.add(key)
                src = (fs.line or "").strip()
                frames_out.append(f"{cand_base}:{fs.lineno} in {fs.name}: {src}")
    loc = _compilation_error_location(chain, candidate_path)
    if loc and loc not in frames_out:
        frames_out.insert(0, loc)
    root = chain[-1]
    head = type(exc).__name__
    # a failed CUDA build: torch raises "Error building extension 'x': <the compiler's output>" from
    # ninja's CalledProcessError, whose own text ("... returned non-zero exit status 1") says nothing
    build = next((e for e in chain if "Error building extension" in str(e)), None)
    if build is not None:
        root = build
    msg_text = _root_text(exc, root)
    parts = []
    if frames_out:
        parts.append("\n".join(frames_out[-6:]))
    parts.append(msg_text if msg_text.startswith(type(root).__name__) else f"{type(root).__name__}: {msg_text}")
    if head != type(root).__name__ and head not in ("InterpreterError",):
        parts.insert(0, "Triton compile error" if head == "CompilationError" else head)
    out = "\n".join(p for p in parts if p)
    if len(out) > limit:
        out = out[: limit - 20] + "\n... (truncated)"
    return out


def _compilation_error_location(chain: list[BaseException], candidate_path: str) -> str | None:
    """Triton's CompilationError carries the kernel's source (from its ``def`` line) and the AST node whose
    line is relative to it: turn that into 'candidate.py:N in kernel: <source line>'."""
    for e in chain:
        src, node = getattr(e, "src", None), getattr(e, "node", None)
        if not isinstance(src, str) or node is None or not hasattr(node, "lineno"):
            continue
        try:
            with open(candidate_path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError:
            return None
        first = src.split("\n", 1)[0].strip()
        starts = [i for i, ln in enumerate(lines) if ln.strip() == first]
        if not starts:
            return None
        n = starts[0] + int(node.lineno)
        m = re.match(r"def\s+(\w+)", first)
        name = m.group(1) if m else "kernel"
        text = lines[n - 1].strip() if 0 < n <= len(lines) else ""
        return f"{os.path.basename(candidate_path)}:{n} in {name}: {text}"
    return None


def _root_text(exc: BaseException, root: BaseException) -> str:
    text = str(root)
    name = type(root).__name__
    if name == "CompilationError" or "triton.compiler" in type(root).__module__:
        # Triton's message: "at L:C:\n<kernel source excerpt>\n^\n<error>" -- keep the excerpt's tail and the error
        lines = text.splitlines()
        if lines and re.match(r"at \d+:\d+:", lines[0]):
            body = lines[1:]
            caret = next((i for i, ln in enumerate(body) if ln.strip() == "^"), None)
            if caret is not None:
                keep = body[max(0, caret - 3): caret + 1] + body[caret + 1:]
                text = lines[0] + "\n" + "\n".join(keep)
        return _trim_lines(text, 16)
    if "Error building extension" in text or "ninja" in text.lower():
        return trim_build_log(text)
    return _trim_lines(text, 10)


# the compilers' own diagnostics: nvcc, ptxas, nvlink, the host compiler (gcc/clang), the linker
_DIAG = re.compile(
    r"(?:^|\s)(?:nvcc|ptxas|nvlink|fatbinary|cicc|cudafe\+\+)\s*(?:fatal|error|warning : .*error)\s*:"  # nvcc fatal : ...
    r"|\(\d+\): (?:catastrophic )?error"  # cuda.cu(12): error: ...
    r"|:\d+(?::\d+)?: (?:fatal )?error:"  # main.cpp:3:5: error: ...
    r"|\berror: |\bfatal error\b|undefined reference to|collect2: |ld(?:\.\w+)?: |\berror \w+\d+:",
    re.I)
# build-system lines that mention errors without being one: ninja's progress and command lines
_NOT_DIAG = re.compile(r"^\s*(?:\[\d+/\d+\]|FAILED:|ninja: |subprocess\.|RuntimeError: Error building|Error building)")


def _is_command(line: str) -> bool:
    return bool(re.search(r"\s-c\s", line) and re.search(r"\s-o\s", line)) or len(line) > 600


def trim_build_log(text: str, max_lines: int = 20) -> str:
    """The compiler's own error lines (nvcc, ptxas, the host compiler, the linker), each with the line
    after it when that is the source excerpt; ninja's progress and command lines are left out."""
    lines = text.splitlines()
    keep: list[str] = []
    for i, ln in enumerate(lines):
        if _NOT_DIAG.search(ln) or _is_command(ln) or not _DIAG.search(ln):
            continue
        keep.append(ln.strip())
        nxt = lines[i + 1].rstrip() if i + 1 < len(lines) else ""
        if nxt.strip() and not _DIAG.search(nxt) and not _NOT_DIAG.search(nxt) and not _is_command(nxt):
            keep.append("    " + nxt.strip())
    if not keep:
        keep = [ln for ln in lines if ln.strip() and not _is_command(ln)][-max_lines:]
    m = re.search(r"Error building extension '[^']*'", text)
    head = m.group(0) if m else "Error building extension"
    out = [head] + keep
    if len(out) > max_lines:
        out = out[:max_lines] + [f"... ({len(out) - max_lines} more lines)"]
    return "\n".join(out)
