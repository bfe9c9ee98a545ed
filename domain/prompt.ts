// Prompt building: pure, so the same text is produced on any worker and can be unit tested.
import type { Backend, Feedback, Problem, VerdictSummary } from './types.js';
import { diagnose, diagnosisTag } from './diagnosis.js';
import type { Profile } from './profile.js';
import { profileDiagnosis } from './profileDiagnosis.js';
import { truncateMiddle } from './text.js';

/** Rough budget for one prompt, in characters (about 4 characters a token). */
export const DEFAULT_PROMPT_CHAR_BUDGET = 60_000;

const TARGET_GPU = [
  'Target GPU: NVIDIA H100 (Hopper, sm_90a): 132 SMs, 228 KB shared memory per SM, 50 MB L2,',
  'about 3 TB/s HBM3 bandwidth, bf16/fp16 tensor cores (wgmma) and TF32 for fp32 matmuls only when allowed.',
].join('\n');

const RULES = [
  'Rules the verifier enforces (a kernel that breaks one is rejected):',
  '- Do the work in your own kernels: no calls to the PyTorch op you are replacing, no try/except fallback to PyTorch, no subclassing Model.',
  '- forward may use PyTorch only as glue (torch.empty/empty_like/zeros, .view/.reshape/.contiguous/.permute, copies, .shape): any PyTorch compute op in forward (matmul, sum, add, exp, softmax, ...) is rejected as torch-fallback, unless the problem lists it in ALLOWED_TORCH_OPS.',
  '- Allocate outputs with torch.empty/empty_like and write every element; do not return inputs, cached results or tensor subclasses.',
  '- Do not modify the inputs, start threads or processes, use other CUDA streams, or touch timing or synchronisation functions.',
  '- Keep the input dtype: an fp32 problem is checked at 1e-4 tolerance, so no fp16/bf16/TF32 shortcuts.',
  '- The kernel must work for other input values and, where the problem allows, other shapes.',
].join('\n');

const BACKEND_NOTES: Record<Backend, string> = {
  triton: 'Write the kernels in Triton (`import triton`, `import triton.language as tl`, `@triton.jit`) and launch them from ModelNew.forward.',
  cuda: 'Write the kernels in CUDA C++ and build them with torch.utils.cpp_extension.load_inline (functions exposed through `functions=[...]`), called from ModelNew.forward.',
};

const ATTENTION_NOTE = [
  'Attention kernels: if you use exp2 for the softmax, fold log2(e) into the scale: qk_scale = sm_scale * 1.44269504.',
  'Any additive score term (relative position, ALiBi slope, bias) must be scaled by 1.44269504 too:',
  '`qk = qk * qk_scale + rel_pos * 1.44269504`, because the PyTorch reference adds it unscaled before softmax.',
].join('\n');

const INSTRUCTIONS: Record<Feedback['instruction'], string> = {
  first: 'Write a correct and fast kernel for this problem.',
  fix: 'Your previous attempt, below, failed verification. Fix the problem the verifier reports, keeping what worked.',
  faster: 'The kernel to make faster is correct. Make it faster while keeping it correct.',
  explore: 'Try a different approach from the attempts so far (another tiling, fusion or algorithm).',
  combine: 'Kernel A and Kernel B are correct and take different approaches. Combine their best ideas into one kernel that is faster than both, keeping it correct.',
};

export function looksLikeAttention(source: string): boolean {
  return /softmax/i.test(source) && /(attn|attention|q\s*@\s*k|matmul\(\s*q)/i.test(source);
}

/** One line describing a verdict, for the history summary. */
export function verdictLine(v: VerdictSummary): string {
  const first = v.message.split('\n')[0] ?? '';
  const tag = diagnosisTag(v);
  const s = v.timing?.meaningful && v.timing.speedupVsEager ? ` (${v.timing.speedupVsEager.toFixed(2)}x vs eager${tag ? `; ${tag}` : ''})` : '';
  return `${v.status}${s}: ${first.slice(0, 200)}`;
}

function describeVerdict(v: VerdictSummary, budget: number, profile?: Profile): string {
  const lines = [`Verifier status: ${v.status}`, 'Verifier message:', truncateMiddle(v.message, budget)];
  const c = v.correctness;
  if (c && v.status === 'incorrect') {
    lines.push(
      `Mismatch: ${c.trials - c.passed} of ${c.trials} trials failed; max abs error ${fmt(c.maxAbsError)}, ` +
        `max rel error ${fmt(c.maxRelError)}, ${fmt(c.mismatchFraction === null ? null : c.mismatchFraction * 100)}% of elements wrong.`,
    );
  }
  for (const cheat of v.cheats) lines.push(`Cheat found (${cheat.class}): ${cheat.evidence}`);
  const t = v.timing;
  if (t?.meaningful) {
    const flex = t.speedupVsFlex ? `, ${fmt(t.speedupVsFlex)}x vs FlexAttention` : '';
    const iv = t.speedupVsEagerInterval ? ` (95% interval ${fmt(t.speedupVsEagerInterval[0])}–${fmt(t.speedupVsEagerInterval[1])})` : '';
    lines.push(`Speed: ${fmt(t.candidateMs)} ms; ${fmt(t.speedupVsEager)}x vs eager PyTorch${iv}, ${fmt(t.speedupVsCompile)}x vs torch.compile${flex}.`);
  }
  const diagnosis = diagnose(v);
  const counters = t?.meaningful ? profileDiagnosis(profile) : [];
  if (diagnosis.length + counters.length > 0) lines.push('Diagnosis:', ...[...diagnosis, ...counters].map((d) => `- ${d}`));
  return lines.join('\n');
}

function fmt(x: number | null): string {
  if (x === null) return 'n/a';
  return Math.abs(x) >= 0.01 || x === 0 ? x.toPrecision(3) : x.toExponential(2);
}

function codeBlock(source: string): string {
  return '```python\n' + source.trimEnd() + '\n```';
}

/**
 * Builds the single user turn (R1-class models are best instructed in the user turn, with no system
 * prompt). When too long it cuts, in order: the older-history lines, the middle of long logs, the best
 * kernel; the verifier's error lines and the reference are kept.
 */
export function buildPrompt(problem: Problem, round: number, index: number, feedback: Feedback, charBudget = DEFAULT_PROMPT_CHAR_BUDGET): string {
  const head = [
    `Problem id: ${problem.id}`,
    `Round: ${round}, candidate: ${index}`,
    '',
    'You write GPU kernels that replace a PyTorch reference. The reference program:',
    codeBlock(problem.source),
    '',
    'Write a Python module that defines `class ModelNew(nn.Module)` with the same constructor arguments and the same',
    'forward signature as `Model`, returning the same outputs (shape, dtype, values within tolerance).',
    'The module may define helper functions and kernels; it is imported on its own, next to nothing but torch.',
    BACKEND_NOTES[problem.backend],
    '',
    TARGET_GPU,
    '',
    RULES,
  ];
  if (looksLikeAttention(problem.source)) head.push('', ATTENTION_NOTE);
  const diagnosed = feedback.previous !== null && diagnose(feedback.previous.verdict).length > 0 && (feedback.instruction === 'faster' || feedback.instruction === 'combine');
  const task = INSTRUCTIONS[feedback.instruction] + (diagnosed ? ' The diagnosis under each kernel says where its time goes.' : '');
  const tail = ['', `Task: ${task}`, 'Answer with exactly one ```python code block holding the complete module.'];

  const fixed = head.join('\n').length + tail.join('\n').length;
  let room = charBudget - fixed;
  const sections: string[] = [];
  if (feedback.previous) {
    // two kernels to combine share what one previous attempt would get
    const logBudget = Math.max(1500, Math.floor(room * (feedback.instruction === 'combine' && feedback.other ? 0.2 : 0.4)));
    const verdict = describeVerdict(feedback.previous.verdict, logBudget, feedback.previous.profile);
    const other = feedback.instruction === 'combine' ? feedback.other : null;
    sections.push('', other ? 'Kernel A:' : feedback.instruction === 'faster' ? 'Kernel to make faster:' : 'Previous attempt:', codeBlock(feedback.previous.source), verdict);
    if (other) sections.push('', 'Kernel B:', codeBlock(other.source), describeVerdict(other.verdict, logBudget, other.profile));
    room -= sections.join('\n').length;
  }
  if (feedback.approaches && feedback.approaches.length > 0 && feedback.instruction === 'explore') {
    const text = ['', 'Approaches the search already keeps (do something different from all of them):', ...feedback.approaches.map((a) => `- ${a}`)].join('\n');
    sections.push(text);
    room -= text.length;
  }
  const best = feedback.best;
  if (best && best.source !== feedback.previous?.source) {
    const text = ['', `Best correct kernel so far (${fmt(best.speedupVsEager)}x vs eager, ${fmt(best.speedupVsCompile)}x vs torch.compile):`, codeBlock(best.source)].join('\n');
    if (text.length < room) {
      sections.push(text);
      room -= text.length;
    }
  }
  const history: string[] = [];
  for (const line of feedback.recent) {
    if (line.length + 3 > room) break; // oldest lines are last in `recent`, so they go first
    history.push(`- ${line}`);
    room -= line.length + 3;
  }
  if (history.length > 0) sections.push('', 'Other recent attempts (newest first):', ...history);
  return [...head, ...sections, ...tail].join('\n');
}
