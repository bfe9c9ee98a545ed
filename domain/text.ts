// Small text helpers shared by prompts and verdict summaries.

/** Keeps the head and the tail (where compilers put the error that matters) of a long text. */
export function truncateMiddle(text: string, max: number): string {
  if (text.length <= max) return text;
  const keep = max - 40;
  const head = Math.floor(keep / 3);
  const tail = keep - head;
  return `${text.slice(0, head)}\n… [${text.length - keep} characters cut] …\n${text.slice(text.length - tail)}`;
}

/** Cuts `text` to at most `max` characters at a word boundary, marking the cut with an ellipsis. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const room = text.slice(0, max - 1);
  const space = room.lastIndexOf(' ');
  return `${(space > max / 2 ? room.slice(0, space) : room).trimEnd()}…`;
}

// A Python exception line ("AssertionError: …", "triton.compiler.errors.CompilationError: …") or a
// compiler's "error: …" line.
const ERROR_LINE = /^(?:[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)\b|error\b)/;

/**
 * The line of a verifier message that names the error: the last exception line of a traceback (where
 * Python puts the error itself), else the first non-empty line. Clipped to `max` with an ellipsis.
 */
export function errorLine(message: string, max = 160): string {
  const lines = message.split('\n').map((l) => l.trim()).filter(Boolean);
  const error = [...lines].reverse().find((l) => ERROR_LINE.test(l));
  return clip(error ?? lines[0] ?? '', max);
}
