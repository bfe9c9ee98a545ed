// The artifact store: long text (prompts, completions, reasoning, verdicts) goes here, and workflow
// history carries only the keys. A folder by default; keys are relative paths.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { dataDir } from '../infra/paths.js';

export class ArtifactStore {
  constructor(readonly root: string = path.join(dataDir(), 'artifacts')) {}

  static keyFor(searchId: string, round: number, index: number, name: string): string {
    const safeId = searchId.replace(/[^A-Za-z0-9._-]/g, '_');
    return `${safeId}/round-${String(round).padStart(3, '0')}/candidate-${index}/${name}`;
  }

  async put(key: string, content: string): Promise<string> {
    const file = this.pathOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
    return key;
  }

  async get(key: string): Promise<string> {
    return readFile(this.pathOf(key), 'utf8');
  }

  pathOf(key: string): string {
    const file = path.resolve(this.root, key);
    if (!file.startsWith(path.resolve(this.root) + path.sep)) throw new Error(`artifact key escapes the store: ${key}`);
    return file;
  }
}
