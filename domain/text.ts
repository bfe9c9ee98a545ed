// Small text helpers shared by prompts and verdict summaries.

/** Keeps the head and the tail (where compilers put the error that matters) of a long text. */
export function truncateMiddle(text: string, max: number): string {
  if (text.length <= max) return text;
  const keep = max - 40;
  const head = Math.floor(keep / 3);
  const tail = keep - head;
  return `${text.slice(0, head)}\n… [${text.length - keep} characters cut] …\n${text.slice(text.length - tail)}`;
}
