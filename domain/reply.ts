// Turning a model's reply into (reasoning, answer, kernel source).

export interface ParsedReply {
  reasoning: string;
  answer: string;
  kernel: string | null;
}

/**
 * R1-class models put their reasoning either in a separate `reasoning_content` field (NIM, DeepSeek's
 * API, vLLM with a reasoning parser) or inline as `<think>…</think>`; both end up in `reasoning`.
 */
export function parseReply(content: string, reasoningField = ''): ParsedReply {
  let reasoning = reasoningField;
  let answer = content;
  const think = /<think>([\s\S]*?)(<\/think>|$)/.exec(content);
  if (think) {
    reasoning = [reasoning, think[1]!.trim()].filter(Boolean).join('\n');
    answer = content.slice(0, think.index) + content.slice(think.index + think[0].length);
  } else if (content.includes('</think>')) {
    // Some servers strip the opening tag but leave the closing one.
    const end = content.indexOf('</think>');
    reasoning = [reasoning, content.slice(0, end).trim()].filter(Boolean).join('\n');
    answer = content.slice(end + '</think>'.length);
  }
  return { reasoning, answer: answer.trim(), kernel: extractKernel(answer) };
}

/** The last fenced python block that defines ModelNew, else the last python block, else null. */
export function extractKernel(answer: string): string | null {
  const blocks = [...answer.matchAll(/```(?:python|py)?[ \t]*\n([\s\S]*?)```/g)].map((m) => m[1]!);
  if (blocks.length === 0) return null;
  const withModel = blocks.filter((b) => /class\s+ModelNew\b/.test(b));
  const chosen = (withModel.length > 0 ? withModel : blocks).at(-1)!;
  return chosen.trimEnd() + '\n';
}
