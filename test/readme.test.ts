/**
 * The README is a front page that stays true: its library example is `examples/quickstart.ts` (which
 * the compiler checks) and prints what the README says it prints; every link into docs/ and every
 * docs page's link to another resolves; the front page stays short.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const readme = readFileSync('README.md', 'utf8');
const docs = readdirSync('docs').filter((f) => f.endsWith('.md'));

/** Relative link targets of a Markdown text (no URLs, no anchors). */
const links = (text: string) => [...text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l));

describe('the README', () => {
  it('is a front page of at most 300 lines that links to at least three docs pages', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(300);
    expect(new Set(links(readme).filter((l) => l.startsWith('docs/') && l.endsWith('.md'))).size).toBeGreaterThanOrEqual(3);
  });

  it('links only to files that exist, and so does every docs page', () => {
    const missing = [
      ...links(readme).filter((l) => !existsSync(l)),
      ...docs.flatMap((d) =>
        links(readFileSync(path.join('docs', d), 'utf8'))
          .filter((l) => !existsSync(path.join('docs', l)))
          .map((l) => `docs/${d} → ${l}`),
      ),
    ];
    expect(missing).toEqual([]);
  });

  it('shows examples/quickstart.ts as its library example, importing the package by name', () => {
    const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    const example = readFileSync('examples/quickstart.ts', 'utf8').replace("from '../src/index.js'", "from 'spikelr'");
    // the same code up to formatting (the file's longer import path wraps its import)
    const code = (text: string | undefined) => text?.replace(/,(\s*[}\]])/g, '$1').replace(/\s+/g, '');
    expect(code(block)).toBe(code(example));
  });

  it('prints the test accuracy the README says it prints', async () => {
    const claimed = /It prints `test accuracy ([\d.]+)%`/.exec(readme)?.[1];
    expect(claimed).toBeDefined();
    const { stdout } = await promisify(execFile)(process.execPath, [path.resolve('dist/examples/quickstart.js')], {
      env: { ...process.env, SPIKELR_BACKEND: 'wasm' },
    });
    expect(stdout.trim()).toBe(`test accuracy ${claimed}%`);
  });
});
