#!/usr/bin/env node
// kernel-search: the command line. Each subcommand validates its input here, at the boundary, and
// fails with one clear line and a non-zero exit before anything is started.
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;
import path from 'node:path';
import { DEFAULT_SEARCH_OPTIONS, MAX_EXTENSION_MS, MAX_TOTAL_BUDGET_MS, MAX_WIDTH, SEARCH_ATTRIBUTES } from '../domain/defaults.js';
import { formatDuration, parseDuration } from '../domain/duration.js';
import { formatSpeedup } from '../domain/ranking.js';
import { profileDiagnosis } from '../domain/profileDiagnosis.js';
import { SEARCH_STATUSES, STOP_REASON_TEXT, displayedStatus, isSearchStatus, statusClause } from '../domain/searchStatus.js';
import { solOf, solText, spendText } from '../domain/speedOfLight.js';
import { errorLine } from '../domain/text.js';
import type { SearchInput, SearchResult, SearchStatus } from '../domain/types.js';
import { hasConfiguredEndpoint, resolveEndpoint } from '../infra/endpoint.js';
import { REPO_ROOT } from '../infra/paths.js';
import { connectOrExplain, ensureSearchAttributes, portIsOpen, resolveTemporalTarget, shortError, workflowUrl, type TemporalTarget } from '../infra/temporal.js';
import { ScriptedModel } from '../scripted-model/server.js';
import { connectWorker, installWorkerLogging } from '../workers/connection.js';
import { createGpuWorker, resolveGpuSlots } from '../workers/gpu.js';
import { createOrchestratorWorker } from '../workers/orchestrator.js';
import { extendBudgetUpdate, statusQuery, stopSignal } from '../workflows/definitions.js';
import { checkEndpoint, scriptedProblemsAt } from './endpointCheck.js';
import { describeInputs, isAttentionSpec, loadProblem, loadProblems, parseBackend } from './problem.js';
import { connectedGpuSlots, runCampaign, resumeCampaign } from './campaigns.js';
import { reportKind, writeReport } from './report.js';
import { listRuns, runTable } from './runLists.js';
import { auditInputOf, resumeAudit, runAudit, verifyOnce } from './audits.js';
import { writeAuditReport } from './auditReport.js';
import { MAX_KERNEL_CHARS, readKernelSet } from './kernelSet.js';
import { selectFile, selectFolderWithSkipped, selectKernelBench, type ProblemRef } from './suites.js';
import { startLine, startSearch, watchSearch } from './searches.js';
import { cpuSlots, DEFAULT_REPLIES_DIR, devScriptedModelUrl, startStack } from './stack.js';

const USAGE = `kernel-search — durable LLM-driven GPU kernel search on Temporal

Usage:
  kernel-search dev [--verifier auto|cpu|cuda] [--gpus 0,1] [--per-gpu N] [--slots N] [--scripted] [--replies DIR]
  kernel-search run (--problem FILE | --kernelbench PATH --suite kernelbench:level1:19)
                    [--backend triton|cuda] [--budget 15m] [--width 4]
                    [--max-candidates N] [--target-speedup X] [--model NAME] [--gpu-queue Q]
                    [--campaign NAME] [--fresh] [--json] [--detach] [--skip-endpoint-check]
  kernel-search problems (--problem FILE… | --problems DIR | --kernelbench PATH --suite SPEC) [--json]
  kernel-search campaign --name NAME (--problem FILE… | --problems DIR | --kernelbench PATH --suite SPEC)
                    [--concurrency N] [--budget 15m] [--width 4] [--detach] [run's options but --fresh]
  kernel-search verify --problem FILE --kernel FILE [--backend triton|cuda] [--json]
                    [--verifier auto|cpu|cuda] [--gpu-queue Q]
  kernel-search audit --name NAME (--problem FILE… | --problems DIR | --kernelbench PATH --suite SPEC)
                    --kernels DIR|FILE.jsonl [--backend triton|cuda] [--concurrency N] [--gpu-queue Q]
                    [--json] [--detach]
  kernel-search resume NAME [--concurrency N] [--json] [--detach]
  kernel-search report NAME [--out DIR] [--kind audit|campaign]
  kernel-search status ID [--json]
  kernel-search stop ID [--reason TEXT]
  kernel-search extend ID DURATION
  kernel-search list [--status ${SEARCH_STATUSES.join('|')}] [--problem ID] [--campaign NAME] [--limit 50] [--json]
  kernel-search list --kind campaign|audit [--limit 50] [--json]
  kernel-search worker orchestrator|gpu [--verifier cpu|cuda] [--gpus 0,1] [--per-gpu N] [--slots N] [--task-queue Q]
  kernel-search scripted-model [--port 8000] [--replies DIR]
  kernel-search demo
  kernel-search --version
  kernel-search <command> --help

Environment: TEMPORAL_ADDRESS (+ TEMPORAL_NAMESPACE, TEMPORAL_API_KEY or TEMPORAL_TLS_CERT/KEY) to use an
existing cluster instead of the embedded server; NVIDIA_API_KEY for NVIDIA NIM (default), or
OPENAI_BASE_URL + OPENAI_API_KEY for any OpenAI-compatible endpoint; KS_MODEL for the default model;
KS_TEMPORAL_PORT / KS_TEMPORAL_UI_PORT for the embedded server's ports; KS_DATA_DIR moves .data.

Exit status: 0 done (run: solved; verify: the kernel holds up), 3 run ended unsolved (verify: the
kernel does not hold up), 1 failed (a search, a campaign's search or an audit's verification failed,
or an unexpected error), 2 bad input (nothing started), 130 interrupted (the search goes on).`;

class UsageError extends Error {}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** One paragraph per command: what `kernel-search <command> --help` prints (the usage line comes from USAGE). */
const COMMAND_HELP: Record<string, string> = {
  dev: 'Starts the embedded Temporal server (unless TEMPORAL_ADDRESS is set), the scripted model when no endpoint is configured, and both workers; prints the exact `run` command to use. Ctrl-C stops everything.',
  run: 'Starts a search for one problem and watches it. The same problem and options give the same search id: a search still running is attached to, a finished one shows its result; --fresh starts a new search with a new id. Ctrl-C stops watching; the search goes on. Exit 0 solved, 3 unsolved, 1 failed, 2 bad input.',
  problems: 'Lists what a selection holds, each file checked (parsed, not run). A folder skips attention variant specs in its subfolders (they are not problems) and says so.',
  campaign: 'One search per problem as child workflows, at most --concurrency at once (default: the GPU slots connected). Submitting it again starts no duplicates.',
  verify: 'Judges one kernel against one problem through the GPU worker path, no model: status, why and where in the source, correctness, timing with its 95% interval, speedups, % of speed of light. Uses TEMPORAL_ADDRESS\'s workers when set, else the embedded server of a running `dev`, else starts the embedded stack for this one check. Exit 0 holds up, 3 does not (wrong, cheating, crashing…), 1 not judged, 2 bad input.',
  audit: 'Verification only, no model: every kernel of --kernels (a folder of modules named by problem id, KernelBench-style level<N>/<number>_*.py or level_<N>_problem_<number>_sample_<k>_kernel.py, or a JSONL file of {"problem", "source"} lines) is judged against its problem, as durable workflows over the connected GPU slots. Kernels that match no problem and problems with no kernel are listed. Submitting it again judges only what failed, was terminated or changed. See docs/audit.md.',
  resume: 'Runs again the searches of a campaign (or the verifications of an audit) that failed or were terminated; finished ones are kept.',
  report: 'Writes report.html, report.json and report.csv of a campaign or an audit (default folder reports/NAME); --kind picks when both have the name.',
  status: 'Where a search stands, how it ended (or why it failed), its recent verdicts and its UI link.',
  stop: 'Graceful stop: in-flight candidates are cancelled, the best kernel so far is the result.',
  extend: 'Moves the deadline of a running search by a positive duration (at most 24h at a time, 7 days in all).',
  list: 'Searches, newest first, by status, problem or campaign; --kind campaign or audit lists those instead, each with how far it got (a running one asked through its progress query, a finished one from its result).',
  worker: 'Runs the orchestrator worker (workflows + generation) or a GPU worker (verification) as its own process.',
  'scripted-model': 'Runs the scripted OpenAI-compatible model on its own.',
  demo: 'The whole loop on this machine: embedded server, both workers, the scripted model when no endpoint is configured, the CPU verifier when no GPU.',
};

function commandHelp(command: string): string {
  const lines = USAGE.split('\n');
  const ofCommand = (l: string) => l.startsWith(`  kernel-search ${command} `) || l === `  kernel-search ${command}`;
  const start = lines.findIndex(ofCommand);
  if (start < 0) return USAGE;
  let end = start + 1;
  while (end < lines.length && (/^ {10,}/.test(lines[end]!) || ofCommand(lines[end]!))) end++; // continuations, and a command's other forms
  return ['Usage:', ...lines.slice(start, end), '', COMMAND_HELP[command] ?? ''].join('\n');
}

function version(): string {
  return (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== undefined && command in COMMAND_HELP && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(`${commandHelp(command)}\n`);
    return 0;
  }
  if (command === 'help' && rest[0] !== undefined) {
    if (!(rest[0] in COMMAND_HELP)) throw new UsageError(`unknown command "${rest[0]}" (see kernel-search --help)`);
    process.stdout.write(`${commandHelp(rest[0])}\n`);
    return 0;
  }
  switch (command) {
    case '--version':
    case '-V':
    case 'version':
      process.stdout.write(`kernel-search ${version()}\n`);
      return 0;
    case 'dev':
      return dev(rest);
    case 'run':
      return run(rest);
    case 'status':
      return status(rest);
    case 'problems':
      return problems(rest);
    case 'campaign':
      return campaignCommand(rest);
    case 'verify':
      return verify(rest);
    case 'audit':
      return auditCommand(rest);
    case 'resume':
      return resume(rest);
    case 'report':
      return report(rest);
    case 'stop':
      return stop(rest);
    case 'extend':
      return extend(rest);
    case 'list':
      return list(rest);
    case 'worker':
      return worker(rest);
    case 'scripted-model':
      return scriptedModel(rest);
    case 'demo':
      return demo(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${command}" (see kernel-search --help)`);
  }
}

/**
 * A value that starts with a minus and a digit (`--width -1`, `extend ID -5m`) is a value, not an
 * option: parseArgs would call it ambiguous or unknown. It is shielded while parsing, so the command's
 * own check says what is wrong with it.
 */
const SHIELD = '\u0000';
const unshield = (v: string) => (v.startsWith(SHIELD) ? v.slice(1) : v);

function args<const T extends ParseArgsOptionsConfig>(argv: string[], options: T, positionals = 0) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv.map((a) => (/^-\d/.test(a) ? SHIELD + a : a)), options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(shortError(err).replace(/\u0000/g, ''));
  }
  parsed.positionals = parsed.positionals.map(unshield);
  for (const [k, v] of Object.entries(parsed.values)) {
    (parsed.values as Record<string, unknown>)[k] = typeof v === 'string' ? unshield(v) : Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? unshield(x) : x)) : v;
  }
  if (parsed.positionals.length !== positionals) throw new UsageError(`expected ${positionals} argument(s), got ${parsed.positionals.length} (see kernel-search --help)`);
  return parsed;
}

function positiveInt(text: string | undefined, name: string, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer ≥ ${min}, got "${text}"`);
  return n;
}

/** `--per-gpu` and the like: undefined when not given, so the callee picks its own default. */
function optionalPositiveInt(text: string | undefined, name: string): number | undefined {
  return text === undefined ? undefined : positiveInt(text, name, 1 /* not used: text is given */);
}

function durationArg(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  try {
    return parseDuration(text);
  } catch (err) {
    throw new UsageError(`${name}: ${shortError(err)}`);
  }
}

async function clientFor(target: TemporalTarget): Promise<Client> {
  const connection = await connectOrExplain(target);
  await registerSearchAttributes(connection, target);
  return new Client({ connection, namespace: target.namespace });
}

/** Searches need the project's search attributes; register them unless this identity may not (Temporal Cloud). */
async function registerSearchAttributes(connection: Connection, target: TemporalTarget): Promise<void> {
  try {
    await ensureSearchAttributes(connection, target.namespace);
  } catch (err) {
    log(`could not register the search attributes on ${target.address} (${shortError(err)}); add them to the namespace by hand (docs/deployment.md)`);
  }
}

function waitForInterrupt(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

// ── dev: embedded server, scripted model when no endpoint, both workers ─────────────────────────
async function dev(argv: string[]): Promise<number> {
  const { values } = args(argv, { verifier: { type: 'string' }, gpus: { type: 'string' }, 'per-gpu': { type: 'string' }, slots: { type: 'string' }, scripted: { type: 'boolean' }, replies: { type: 'string' } });
  const verifier = values.verifier ?? 'auto';
  if (!['auto', 'cpu', 'cuda'].includes(verifier)) throw new UsageError(`--verifier must be auto, cpu or cuda, got "${verifier}"`);
  installWorkerLogging('ERROR');
  const stack = await startStack({
    verifier: verifier as 'auto' | 'cpu' | 'cuda',
    gpus: values.gpus,
    perGpu: optionalPositiveInt(values['per-gpu'], '--per-gpu'),
    cpuSlots: positiveInt(values.slots, '--slots', 1),
    forceScripted: values.scripted,
    repliesDirs: values.replies ? [path.resolve(values.replies)] : undefined,
    log,
  });
  log(`ready: Temporal UI at ${stack.target.uiUrl}; Ctrl-C stops everything`);
  log(`start a search from another shell: ${devHint()}`);
  await waitForInterrupt();
  log('stopping…');
  await stack.stop();
  return 0;
}

/** The exact command that starts a search against what `dev` runs (no `npm link` needed). */
function devHint(): string {
  const cli = path.relative(process.cwd(), path.join(REPO_ROOT, 'dist', 'cli', 'main.js')) || 'dist/cli/main.js';
  const problem = path.relative(process.cwd(), DEMO_PROBLEM);
  const env = [process.env.KS_TEMPORAL_PORT ? `KS_TEMPORAL_PORT=${process.env.KS_TEMPORAL_PORT} ` : '', process.env.KS_TEMPORAL_UI_PORT ? `KS_TEMPORAL_UI_PORT=${process.env.KS_TEMPORAL_UI_PORT} ` : ''].join('');
  return `${env}node ${cli} run --problem ${problem}`;
}

// ── run ────────────────────────────────────────────────────────────────────────────────────────
function searchOptions(values: Record<string, unknown>): SearchInput['options'] {
  const options = {
    ...DEFAULT_SEARCH_OPTIONS,
    budgetMs: durationArg(values.budget as string | undefined, '--budget', DEFAULT_SEARCH_OPTIONS.budgetMs),
    width: positiveInt(values.width as string | undefined, '--width', DEFAULT_SEARCH_OPTIONS.width),
    maxCandidates: positiveInt(values['max-candidates'] as string | undefined, '--max-candidates', 0, 0),
    model: (values.model as string | undefined) ?? '',
    gpuTaskQueue: (values['gpu-queue'] as string | undefined) ?? DEFAULT_SEARCH_OPTIONS.gpuTaskQueue,
    campaign: (values.campaign as string | undefined) ?? '',
  };
  if (options.budgetMs > MAX_TOTAL_BUDGET_MS) throw new UsageError(`--budget may be at most ${formatDuration(MAX_TOTAL_BUDGET_MS)}`);
  if (options.width > MAX_WIDTH) throw new UsageError(`--width may be at most ${MAX_WIDTH}`);
  if (values['target-speedup'] !== undefined) {
    const t = Number(values['target-speedup']);
    if (!(t > 0)) throw new UsageError(`--target-speedup must be a positive number, got "${values['target-speedup'] as string}"`);
    options.targetSpeedup = t;
  }
  return options;
}

function backendArg(values: Record<string, unknown>) {
  try {
    return parseBackend(values.backend as string | undefined);
  } catch (err) {
    throw new UsageError(shortError(err));
  }
}

/** The problems named by --problem (repeatable), --problems DIR or --kernelbench PATH --suite SPEC. */
function selection(values: Record<string, unknown>): ProblemRef[] {
  const files = ([] as string[]).concat((values.problem as string[] | string | undefined) ?? []);
  const sources = [files.length > 0, values.problems !== undefined, values.kernelbench !== undefined || values.suite !== undefined].filter(Boolean).length;
  if (sources === 0) throw new UsageError('name the problems: --problem FILE, --problems DIR, or --kernelbench PATH --suite SPEC');
  if (sources > 1) throw new UsageError('use one of --problem, --problems, or --kernelbench with --suite');
  try {
    if (files.length > 0) return files.map(selectFile);
    if (values.problems !== undefined) {
      const { refs, skipped } = selectFolderWithSkipped(path.resolve(values.problems as string));
      if (skipped.length > 0) {
        const dirs = [...new Set(skipped.map((f) => path.relative(process.cwd(), path.dirname(f))))];
        log(`skipped ${skipped.length} attention variant spec(s), not problems of this folder: ${skipped.map((f) => path.basename(f, '.py')).join(', ')} (to run them: --problems ${dirs.join(' or --problems ')})`);
      }
      return refs;
    }
    if (values.kernelbench === undefined || values.suite === undefined) throw new Error('--kernelbench PATH and --suite SPEC go together');
    return selectKernelBench(path.resolve(values.kernelbench as string), values.suite as string);
  } catch (err) {
    throw new UsageError(shortError(err));
  }
}

async function loadSelection(values: Record<string, unknown>, known?: ProblemRef[]) {
  const backend = backendArg(values);
  const refs = known ?? selection(values);
  return loadProblems(refs, backend).catch((err: unknown) => {
    throw new UsageError(shortError(err));
  });
}

async function buildInput(values: Record<string, unknown>): Promise<SearchInput> {
  const options = searchOptions(values);
  const problems = await loadSelection(values);
  if (problems.length !== 1) throw new UsageError(`run takes one problem; this selection has ${problems.length} (use \`kernel-search campaign\`)`);
  return { problem: problems[0]!, options };
}

const SELECTION_OPTIONS = {
  problem: { type: 'string', multiple: true },
  problems: { type: 'string' },
  kernelbench: { type: 'string' },
  suite: { type: 'string' },
  backend: { type: 'string' },
} as const;

const RUN_OPTIONS = {
  ...SELECTION_OPTIONS,
  budget: { type: 'string' },
  width: { type: 'string' },
  'max-candidates': { type: 'string' },
  'target-speedup': { type: 'string' },
  model: { type: 'string' },
  'gpu-queue': { type: 'string' },
  campaign: { type: 'string' },
  json: { type: 'boolean' },
  detach: { type: 'boolean' },
  'skip-endpoint-check': { type: 'boolean' },
} as const;

const RUN_ONLY_OPTIONS = { ...RUN_OPTIONS, fresh: { type: 'boolean' } } as const;

/**
 * Generation runs on the orchestrator workers, with their endpoint. The CLI checks an endpoint only when
 * its own environment names one (the same as the workers', in the usual setup); with none configured
 * here, as beside `dev` serving the scripted model, the workers' endpoint is the only one there is.
 */
async function checkEndpointHere(values: Record<string, unknown>, problemIds: string[]): Promise<void> {
  if (values['skip-endpoint-check']) return;
  let scripted: string[] | null;
  if (!hasConfiguredEndpoint()) {
    log('no model endpoint configured in this shell: the orchestrator workers use their own');
    const url = devScriptedModelUrl();
    scripted = url ? await scriptedProblemsAt(url) : null;
  } else {
    scripted = await checkEndpoint(resolveEndpoint()).catch((err: unknown) => {
      throw new UsageError(shortError(err));
    });
  }
  warnScriptedGaps(scripted, problemIds);
}

/** The scripted model fails a problem it has no replies for in round 1: say so before anything starts. */
function warnScriptedGaps(scripted: string[] | null, problemIds: string[]): void {
  if (!scripted) return;
  const known = new Set(scripted);
  const missing = problemIds.filter((id) => !known.has(id));
  if (missing.length === 0) return;
  log(`warning: the scripted model has no replies for ${missing.length} of ${problemIds.length} problem(s): ${missing.join(', ')}; their searches fail in round 1 (it has replies for: ${scripted.join(', ') || 'none'}; add scripted-replies/<problem id>/01.md, or configure a real endpoint)`);
}

/** A search on a task queue nobody polls waits in silence: say so before it starts. */
async function warnWithoutGpuWorkers(client: Client, queue: string): Promise<void> {
  const slots = await connectedGpuSlots(client, queue).catch(() => null);
  if (slots === 0) log(`warning: no GPU worker polls task queue "${queue}": the search's verifications wait until one does (start one with \`kernel-search worker gpu --task-queue ${queue}\`)`);
}

async function run(argv: string[]): Promise<number> {
  const { values } = args(argv, RUN_ONLY_OPTIONS);
  const input = await buildInput(values);
  await checkEndpointHere(values, [input.problem.id]);
  const target = resolveTemporalTarget();
  const client = await clientFor(target);
  await warnWithoutGpuWorkers(client, input.options.gpuTaskQueue);
  return startAndWatch(client, target, input, { json: values.json === true, detach: values.detach === true, fresh: values.fresh === true });
}

async function startAndWatch(client: Client, target: TemporalTarget, input: SearchInput, opts: { json: boolean; detach: boolean; fresh?: boolean; showKernel?: boolean; onInterrupt?: () => Promise<void> }): Promise<number> {
  const started = await startSearch(client, input, { fresh: opts.fresh });
  const { handle } = started;
  const url = workflowUrl(target, handle.workflowId);
  log(startLine(started));
  log(`Temporal UI: ${url}`);
  if (opts.detach) {
    if (opts.json) process.stdout.write(`${JSON.stringify({ searchId: handle.workflowId, outcome: started.outcome, url })}\n`);
    return 0;
  }
  const tty = process.stderr.isTTY && !opts.json;
  // Ctrl-C stops watching, not the search: it is a workflow and goes on without this process.
  const onSigint = () => {
    if (tty) process.stderr.write('\r\x1b[K');
    const cli = path.relative(process.cwd(), path.join(REPO_ROOT, 'dist', 'cli', 'main.js')) || 'dist/cli/main.js';
    log(`interrupted: search ${handle.workflowId} goes on. Watch it with \`node ${cli} status ${handle.workflowId}\` (or this same run command, which attaches), stop it with \`node ${cli} stop ${handle.workflowId}\`.`);
    void (opts.onInterrupt ?? (() => Promise.resolve()))().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSigint);
  const result = await watchSearch(handle, {
    onVerdict: (v) => {
      if (tty) process.stderr.write('\r\x1b[K');
      log(`round ${v.round} candidate ${v.index}: ${v.status.toUpperCase()} — ${errorLine(v.message)}`);
    },
    onTick: (s) => {
      if (tty) process.stderr.write(`\r\x1b[K${liveLine(s)}`);
    },
  });
  process.removeListener('SIGINT', onSigint);
  if (tty) process.stderr.write('\r\x1b[K');
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ...result, outcome: started.outcome, url })}\n`);
  } else {
    printResult(result, url, opts.showKernel ?? true);
  }
  return result.solved ? 0 : 3;
}

/** One line of progress; "left" only while the search runs (an ended search has no time left). */
function liveLine(s: SearchStatus): string {
  const best = s.best ? bestText(s.best.verdict) : 'none yet';
  const tail = s.phase === 'running' ? `${formatDuration(s.timeLeftMs)} left` : s.phase === 'finished' && s.stopReason ? `ended: ${STOP_REASON_TEXT[s.stopReason]}` : s.phase;
  const spent = s.tokens !== undefined ? ` · spent ${spendText(s.gpuSeconds ?? 0, s.tokens)}` : '';
  return `round ${s.round} · ${s.candidatesVerified}/${s.candidatesStarted} candidates verified · best: ${best}${spent} · ${tail}`;
}

function bestText(v: NonNullable<SearchStatus['best']>['verdict']): string {
  if (v.status !== 'correct') return `closest: ${v.status}`;
  if (v.timing?.meaningful && v.timing.speedupVsEager !== null) {
    const sol = solText(solOf(v));
    return `${formatSpeedup(v.timing.speedupVsEager, v.timing.speedupVsEagerInterval)} vs eager${sol ? `, ${sol}` : ''}`;
  }
  return 'correct (timing not meaningful on this verifier)';
}

function printResult(result: SearchResult, url: string, showKernel: boolean): void {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out('');
  out(`${result.solved ? 'SOLVED' : 'UNSOLVED'} ${result.problemId} — ${STOP_REASON_TEXT[result.stopReason]}; ${result.rounds} round(s), ${result.candidates.length} candidate(s), ${formatDuration(result.elapsedMs)}; spent ${spendText(result.gpuSeconds ?? 0, result.tokens)}`);
  if (result.best) {
    out(`best: round ${result.best.round} candidate ${result.best.index}, ${bestText(result.best.verdict)}`);
    if (showKernel) {
      out('');
      out(result.best.verdict.status === 'correct' ? 'Final kernel:' : 'Closest attempt (not correct):');
      out('```python');
      out(result.best.source.trimEnd());
      out('```');
    }
  }
  out(`Temporal UI: ${url}`);
}

// ── status / stop / extend / list ──────────────────────────────────────────────────────────────
async function withSearch<T>(id: string, fn: (client: Client, target: TemporalTarget) => Promise<T>): Promise<T> {
  const target = resolveTemporalTarget();
  const client = await clientFor(target);
  try {
    return await fn(client, target);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError || /not found/i.test(String(err))) throw new UsageError(`no search with id "${id}"`);
    throw err;
  }
}

async function status(argv: string[]): Promise<number> {
  const { values, positionals } = args(argv, { json: { type: 'boolean' } }, 1);
  const id = positionals[0]!;
  return withSearch(id, async (client, target) => {
    const handle = client.workflow.getHandle(id);
    const description = await handle.describe();
    let s: SearchStatus | null = null;
    try {
      s = await handle.query(statusQuery);
    } catch {
      // A closed workflow with no worker to answer queries: the description still says how it ended.
    }
    const executionStatus = description.status.name;
    const shown = displayedStatus(executionStatus, description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.status));
    // How a closed search ended: its result's stop reason, or the failure's own words.
    let ending: { stopReason: string | null; stopReasonText: string | null; failure: string | null } = { stopReason: null, stopReasonText: null, failure: null };
    // What the search spent: the status query's sums, else (no worker to answer) the result's.
    let spent: { gpuSeconds: number; tokens: number } | null = s?.tokens !== undefined ? { gpuSeconds: s.gpuSeconds ?? 0, tokens: s.tokens } : null;
    if (executionStatus !== 'RUNNING') {
      ending = await handle.result().then(
        (r: SearchResult) => {
          spent ??= { gpuSeconds: r.gpuSeconds ?? 0, tokens: r.tokens };
          return { stopReason: r.stopReason, stopReasonText: STOP_REASON_TEXT[r.stopReason], failure: null };
        },
        (err: unknown) => ({ stopReason: null, stopReasonText: null, failure: innermostMessage(err) }),
      );
      // A query replays a closed run to its end; without that (no worker), the description says it ended.
      if (s && s.phase === 'running') s = { ...s, phase: executionStatus === 'COMPLETED' ? 'finished' : 'failed', timeLeftMs: 0 };
    }
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ searchId: id, workflowStatus: executionStatus, searchStatus: shown, ...ending, spent, status: s, url: workflowUrl(target, id) })}\n`);
      return 0;
    }
    process.stdout.write(`${id}: ${shown} (${executionStatus})\n`);
    // (the live line below says how a finished search ended)
    if (ending.stopReasonText && !s) process.stdout.write(`ended: ${ending.stopReasonText}\n`);
    if (ending.failure) process.stdout.write(`failed: ${ending.failure}\n`);
    if (spent && s?.tokens === undefined) process.stdout.write(`spent: ${spendText(spent.gpuSeconds, spent.tokens)}\n`);
    if (s) {
      process.stdout.write(`${liveLine(s)}\n`);
      for (const r of s.recent) process.stdout.write(`  round ${r.round} candidate ${r.index}: ${r.status} — ${errorLine(r.message)}\n`);
      // The best kernel's Nsight Compute counters, once profiled (or why there are none)
      const counters = profileDiagnosis(s.best?.profile);
      if (s.best && counters.length > 0) process.stdout.write(`best's profile (round ${s.best.round} candidate ${s.best.index}): ${counters.join(' ')}\n`);
    }
    process.stdout.write(`Temporal UI: ${workflowUrl(target, id)}\n`);
    return 0;
  });
}

async function stop(argv: string[]): Promise<number> {
  const { values, positionals } = args(argv, { reason: { type: 'string' } }, 1);
  const id = positionals[0]!;
  return withSearch(id, async (client) => {
    const handle = client.workflow.getHandle(id);
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING') {
      const shown = displayedStatus(description.status.name, description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.status));
      process.stdout.write(`search ${id} has already ended (${shown}); nothing to stop\n`);
      return 0;
    }
    await handle.signal(stopSignal, values.reason ?? 'stopped from the CLI');
    process.stdout.write(`stop sent to ${id}; it ends with the best kernel so far\n`);
    return 0;
  });
}

async function extend(argv: string[]): Promise<number> {
  const { positionals } = args(argv, {}, 2);
  const [id, text] = positionals as [string, string];
  if (text.trim().startsWith('-')) throw new UsageError(`extend takes a positive duration to add (e.g. 10m), got "${text}"; a deadline cannot be moved earlier (stop the search instead)`);
  const extraMs = durationArg(text, 'extend', 0);
  if (extraMs > MAX_EXTENSION_MS) throw new UsageError(`an extension may be at most ${formatDuration(MAX_EXTENSION_MS)}`);
  return withSearch(id, async (client) => {
    try {
      const { deadlineMs } = await client.workflow.getHandle(id).executeUpdate(extendBudgetUpdate, { args: [extraMs] });
      process.stdout.write(`deadline of ${id} moved by ${formatDuration(extraMs)}: ${formatDuration(deadlineMs - Date.now())} left\n`);
      return 0;
    } catch (err) {
      const cause = (err as { cause?: Error }).cause;
      throw new UsageError(`extend refused: ${shortError(cause ?? err)}`);
    }
  });
}

async function list(argv: string[]): Promise<number> {
  const { values } = args(argv, { kind: { type: 'string' }, status: { type: 'string' }, problem: { type: 'string' }, campaign: { type: 'string' }, json: { type: 'boolean' }, limit: { type: 'string' } });
  const kind = values.kind ?? 'search';
  if (kind !== 'search' && kind !== 'campaign' && kind !== 'audit') throw new UsageError(`--kind must be search, campaign or audit; got "${kind}"`);
  if (kind !== 'search') {
    const searchOnly = (['status', 'problem', 'campaign'] as const).filter((o) => values[o] !== undefined);
    if (searchOnly.length > 0) throw new UsageError(`--${searchOnly[0]} lists searches only; it does not go with --kind ${kind}`);
    const limit = positiveInt(values.limit, '--limit', 50);
    const rows = await listRuns(await clientFor(resolveTemporalTarget()), kind, limit);
    if (values.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
    else if (rows.length === 0) process.stdout.write(`no ${kind}s\n`);
    else printTable(runTable(kind, rows));
    return 0;
  }
  const clauses = [`WorkflowType = 'kernelSearch'`];
  const quote = (s: string) => `'${s.replace(/'/g, "\\'")}'`;
  if (values.status !== undefined) {
    if (!isSearchStatus(values.status)) throw new UsageError(`--status must be one of ${SEARCH_STATUSES.join(', ')}; got "${values.status}"`);
    clauses.push(statusClause(values.status, SEARCH_ATTRIBUTES.status.name));
  }
  if (values.problem) clauses.push(`${SEARCH_ATTRIBUTES.problem.name} = ${quote(values.problem)}`);
  if (values.campaign) clauses.push(`${SEARCH_ATTRIBUTES.campaign.name} = ${quote(values.campaign)}`);
  const limit = positiveInt(values.limit, '--limit', 50);
  const target = resolveTemporalTarget();
  const client = await clientFor(target);
  const rows: object[] = [];
  for await (const wf of client.workflow.list({ query: clauses.join(' AND ') })) {
    const sa = wf.typedSearchAttributes;
    rows.push({
      searchId: wf.workflowId,
      workflowStatus: wf.status.name,
      problem: sa.get(SEARCH_ATTRIBUTES.problem) ?? '',
      status: displayedStatus(wf.status.name, sa.get(SEARCH_ATTRIBUTES.status)),
      bestSpeedup: sa.get(SEARCH_ATTRIBUTES.bestSpeedup) ?? null,
      startTime: wf.startTime.toISOString(),
    });
    if (rows.length >= limit) break;
  }
  if (values.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
  else if (rows.length === 0) process.stdout.write('no searches match\n');
  else {
    printTable([['SEARCH', 'STATUS', 'EXECUTION', 'BEST', 'STARTED'], ...(rows as Record<string, unknown>[]).map((r) => [String(r.searchId), String(r.status), String(r.workflowStatus), r.bestSpeedup === null ? '-' : `${(r.bestSpeedup as number).toFixed(2)}×`, String(r.startTime)])]);
  }
  return 0;
}

function printTable(table: string[][]): void {
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
}

// ── problems / campaign / resume ────────────────────────────────────────────────────────────────
async function problems(argv: string[]): Promise<number> {
  const { values } = args(argv, { ...SELECTION_OPTIONS, json: { type: 'boolean' } });
  const refs = selection(values);
  const loaded = await loadSelection(values, refs);
  // Describe what the verifier will see: the file itself, or the problem rendered from an attention spec.
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ks-problems-'));
  const described = loaded.map((p, i) => {
    const file = path.resolve(refs[i]!.file);
    if (!isAttentionSpec(readFileSync(file, 'utf8'))) return file;
    const rendered = path.join(tmp, `${i}_${p.id}.py`);
    writeFileSync(rendered, p.source);
    return rendered;
  });
  const inputs = await describeInputs(described).finally(() => rmSync(tmp, { recursive: true, force: true }));
  const rows = loaded.map((p, i) => ({
    id: p.id,
    file: refs[i]!.file,
    level: refs[i]!.level,
    number: refs[i]!.number,
    inputs: inputs.get(described[i]!) ?? 'inputs: n/a',
    atol: p.atol ?? null,
    rtol: p.rtol ?? null,
  }));
  if (values.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
  else {
    process.stdout.write('ID\tLEVEL\tINPUTS\tFILE\n');
    for (const r of rows) process.stdout.write(`${r.id}\t${r.level === null ? '-' : `level${r.level}`}\t${r.inputs}\t${r.file}\n`);
  }
  log(`${rows.length} problem(s)`);
  return 0;
}

async function campaignCommand(argv: string[]): Promise<number> {
  const { values } = args(argv, { ...RUN_OPTIONS, name: { type: 'string' }, concurrency: { type: 'string' } });
  if (!values.name || !/^[A-Za-z0-9._-]+$/.test(values.name)) throw new UsageError('--name NAME is required (letters, digits, . _ -)');
  const options = searchOptions(values);
  const problemsLoaded = await loadSelection(values);
  await checkEndpointHere(values, problemsLoaded.map((p) => p.id));
  const concurrency = values.concurrency === undefined ? undefined : positiveInt(values.concurrency, '--concurrency', 1);
  const target = resolveTemporalTarget();
  const client = await clientFor(target);
  return runCampaign(client, target, { name: values.name, problems: problemsLoaded, options, concurrency }, { json: values.json === true, detach: values.detach === true, log });
}

async function resume(argv: string[]): Promise<number> {
  const { values, positionals } = args(argv, { json: { type: 'boolean' }, detach: { type: 'boolean' }, concurrency: { type: 'string' } }, 1);
  const concurrency = values.concurrency === undefined ? undefined : positiveInt(values.concurrency, '--concurrency', 1);
  const target = resolveTemporalTarget();
  const client = await clientFor(target);
  const out = { json: values.json === true, detach: values.detach === true, log };
  const name = positionals[0]!;
  return resumeCampaign(client, target, name, out, concurrency).catch(async (err: unknown) => {
    // not a campaign: an audit of that name, if there is one
    if (!/^no campaign named/.test(shortError(err)) || !(await auditInputOf(client, name))) throw new UsageError(shortError(err));
    return resumeAudit(client, target, name, out, concurrency);
  });
}

async function report(argv: string[]): Promise<number> {
  const { values, positionals } = args(argv, { out: { type: 'string' }, kind: { type: 'string' } }, 1);
  const name = positionals[0]!;
  if (values.kind !== undefined && values.kind !== 'audit' && values.kind !== 'campaign') throw new UsageError(`--kind must be audit or campaign, got "${values.kind}"`);
  const outDir = path.resolve(values.out ?? path.join('reports', name));
  const target = resolveTemporalTarget();
  const client = await clientFor(target);
  const kind = await reportKind(client, name, values.kind).catch((err: unknown) => {
    throw new UsageError(shortError(err));
  });
  if (kind === 'audit') {
    const written = await writeAuditReport(client, target, name, outDir).catch((err: unknown) => {
      throw new UsageError(shortError(err));
    });
    log(`report of audit ${name} (${written.kernels} kernels): ${written.summaryLine}`);
    for (const f of written.files) process.stdout.write(`${f}\n`);
    return 0;
  }
  const { files, problems } = await writeReport(client, target, name, outDir).catch((err: unknown) => {
    throw new UsageError(shortError(err));
  });
  log(`report of campaign ${name} (${problems} problems):`);
  for (const f of files) process.stdout.write(`${f}\n`);
  return 0;
}

// ── verify / audit: verification only, no model ─────────────────────────────────────────────────
const AUDIT_RUN_OPTIONS = { backend: { type: 'string' }, 'gpu-queue': { type: 'string' }, json: { type: 'boolean' } } as const;

function auditOptions(values: Record<string, unknown>) {
  return { gpuTaskQueue: (values['gpu-queue'] as string | undefined) ?? DEFAULT_SEARCH_OPTIONS.gpuTaskQueue, verifyTimeoutS: DEFAULT_SEARCH_OPTIONS.verifyTimeoutS };
}

function readKernelFile(file: string): string {
  let text;
  try {
    text = readFileSync(path.resolve(file), 'utf8');
  } catch {
    throw new UsageError(`kernel file not found: ${file}`);
  }
  if (text.trim() === '') throw new UsageError(`kernel file ${file} is empty`);
  if (text.length > MAX_KERNEL_CHARS) throw new UsageError(`kernel file ${file} is larger than ${MAX_KERNEL_CHARS / 1000} KB: not a kernel module`);
  return text;
}

async function verify(argv: string[]): Promise<number> {
  const { values } = args(argv, { ...AUDIT_RUN_OPTIONS, problem: { type: 'string' }, kernel: { type: 'string' }, verifier: { type: 'string' } });
  if (!values.problem || !values.kernel) throw new UsageError('verify needs --problem FILE and --kernel FILE');
  const verifier = values.verifier ?? 'auto';
  if (verifier !== 'auto' && verifier !== 'cpu' && verifier !== 'cuda') throw new UsageError(`--verifier must be auto, cpu or cuda, got "${verifier}"`);
  const source = readKernelFile(values.kernel);
  const problem = await loadProblem(values.problem, backendArg(values)).catch((err: unknown) => {
    throw new UsageError(shortError(err));
  });
  const options = auditOptions(values);
  const target = resolveTemporalTarget();
  const [host, port] = target.address.split(':') as [string, string];
  // A `dev` of this checkout already serves the embedded address: use it and its workers.
  let stack: Awaited<ReturnType<typeof startStack>> | null = null;
  if (target.embedded && !(await portIsOpen(host, Number(port)))) {
    installWorkerLogging('ERROR');
    stack = await startStack({ verifier, gpuTaskQueue: options.gpuTaskQueue, verificationOnly: true, log: values.json ? () => undefined : log });
  } else if (values.verifier !== undefined) {
    log(`--verifier applies only to the embedded stack this command starts; the workers at ${target.address} use their own`);
  }
  try {
    const client = await clientFor(target);
    if (!stack) await warnWithoutGpuWorkers(client, options.gpuTaskQueue);
    return await verifyOnce(client, target, { problem, kernelFile: values.kernel, source, options }, { json: values.json === true, log });
  } finally {
    await stack?.stop();
  }
}

async function auditCommand(argv: string[]): Promise<number> {
  const { values } = args(argv, { ...SELECTION_OPTIONS, ...AUDIT_RUN_OPTIONS, name: { type: 'string' }, kernels: { type: 'string' }, concurrency: { type: 'string' }, detach: { type: 'boolean' } });
  if (!values.name || !/^[A-Za-z0-9._-]+$/.test(values.name)) throw new UsageError('--name NAME is required (letters, digits, . _ -)');
  if (!values.kernels) throw new UsageError('--kernels DIR|FILE.jsonl is required: the kernels to judge');
  const refs = selection(values);
  const kernelsPath = path.resolve(values.kernels);
  let set;
  try {
    set = readKernelSet(kernelsPath, refs);
  } catch (err) {
    throw new UsageError(shortError(err));
  }
  for (const u of set.unmatched) log(`not verified: ${u.file}: ${u.reason}`);
  if (set.problemsWithoutKernel.length > 0) log(`${set.problemsWithoutKernel.length} problem(s) with no kernel: ${set.problemsWithoutKernel.join(', ')}`);
  if (set.ignored.length > 0) log(`ignored ${set.ignored.length} file(s) that are not .py modules: ${set.ignored.slice(0, 10).join(', ')}${set.ignored.length > 10 ? ', …' : ''}`);
  if (set.kernels.length === 0) throw new UsageError(`no kernel in ${values.kernels} matches a problem of the selection (naming rules: docs/audit.md)`);
  const claimed = new Set(set.kernels.map((k) => k.problemId));
  const problemsLoaded = await loadSelection(values, refs.filter((r) => claimed.has(r.id)));
  const concurrency = values.concurrency === undefined ? undefined : positiveInt(values.concurrency, '--concurrency', 1);
  const target = resolveTemporalTarget();
  const client = await clientFor(target);
  return runAudit(
    client,
    target,
    { name: values.name, kernelsPath, problems: problemsLoaded, kernels: set.kernels, unmatched: set.unmatched, problemsWithoutKernel: set.problemsWithoutKernel, options: auditOptions(values), concurrency },
    { json: values.json === true, detach: values.detach === true, log },
  );
}

// ── workers and the scripted model as their own processes ──────────────────────────────────────
async function worker(argv: string[]): Promise<number> {
  const { values, positionals } = args(argv, { verifier: { type: 'string' }, gpus: { type: 'string' }, 'per-gpu': { type: 'string' }, slots: { type: 'string' }, 'task-queue': { type: 'string' } }, 1);
  const role = positionals[0];
  if (role !== 'orchestrator' && role !== 'gpu') throw new UsageError(`worker role must be "orchestrator" or "gpu", got "${role}"`);
  installWorkerLogging('INFO');
  const target = resolveTemporalTarget();
  const probe = await connectOrExplain(target);
  await registerSearchAttributes(probe, target);
  await probe.close();
  const connection = await connectWorker(target);
  let w;
  if (role === 'orchestrator') {
    const endpoint = resolveEndpoint();
    w = await createOrchestratorWorker({ connection, namespace: target.namespace, endpoint, taskQueue: values['task-queue'] });
    log(`orchestrator worker: workflows + generation against ${endpoint.baseURL}`);
  } else {
    const device = values.verifier ?? 'cuda';
    if (device !== 'cpu' && device !== 'cuda') throw new UsageError(`--verifier must be cpu or cuda, got "${device}"`);
    const perGpu = optionalPositiveInt(values['per-gpu'], '--per-gpu');
    const slots = device === 'cpu' ? cpuSlots(positiveInt(values.slots, '--slots', 1)) : await resolveGpuSlots(values.gpus, perGpu).catch((err: unknown) => {
      throw new UsageError(shortError(err));
    });
    w = await createGpuWorker({ connection, namespace: target.namespace, device, slots, taskQueue: values['task-queue'] });
    log(`gpu worker: ${device} verifier, slots ${slots.join(', ')}, task queue ${values['task-queue'] ?? DEFAULT_SEARCH_OPTIONS.gpuTaskQueue}`);
  }
  const shutdown = () => {
    if (w.getState() === 'RUNNING') w.shutdown();
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  await w.run();
  await connection.close();
  return 0;
}

async function scriptedModel(argv: string[]): Promise<number> {
  const { values } = args(argv, { port: { type: 'string' }, replies: { type: 'string' } });
  const model = await new ScriptedModel({ repliesDirs: [values.replies ? path.resolve(values.replies) : DEFAULT_REPLIES_DIR], port: positiveInt(values.port, '--port', 8000, 0) }).start();
  log(`scripted model listening at ${model.url} (set OPENAI_BASE_URL=${model.url})`);
  await waitForInterrupt();
  await model.stop();
  return 0;
}

// ── demo: the whole loop on one machine, on the relative-position attention problem ────────────
export const DEMO_PROBLEM = path.join(REPO_ROOT, 'problems', 'attention', 'relative_position_attention.py');

async function demo(argv: string[]): Promise<number> {
  args(argv, {});
  installWorkerLogging('ERROR');
  const stack = await startStack({ verifier: 'auto', log });
  try {
    const problem = await loadProblem(DEMO_PROBLEM, 'triton');
    // The scripted replies answer one candidate per round, so the demo runs rounds of one.
    const options = { ...DEFAULT_SEARCH_OPTIONS, width: stack.scripted ? 1 : DEFAULT_SEARCH_OPTIONS.width, budgetMs: stack.scripted ? 5 * 60_000 : DEFAULT_SEARCH_OPTIONS.budgetMs };
    const input: SearchInput = { problem, options };
    const client = await clientFor(stack.target);
    log(`demo: ${problem.id} with ${stack.scripted ? 'the scripted model' : 'the configured model'} and the ${stack.verifier.toUpperCase()} verifier`);
    const code = await startAndWatch(client, stack.target, input, { json: false, detach: false, fresh: true, onInterrupt: () => stack.stop() }); // a fresh search each time
    if (stack.target.embedded) log('The demo stops its Temporal server now; `make dev` starts it again on the same history, and the link above opens the run.');
    return code;
  } finally {
    await stack.stop();
  }
}

/** A failed workflow's own message sits at the end of its cause chain. */
function innermostMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  const parts: string[] = [];
  while (e && typeof e === 'object') {
    if (e.message) parts.push(e.message);
    e = e.cause as typeof e;
  }
  return parts.length > 1 ? `${parts[0]}: ${parts.at(-1)}` : shortError(err);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`kernel-search: ${err instanceof UsageError ? err.message : innermostMessage(err).split('\n')[0]}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
