import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root, sh } from './support/packed-packages.js'

/**
 * Every TypeScript block in README.md, docs/*.md and packages/*\/README.md compiles under strict,
 * against the workspace sources, so the examples people paste cannot rot.
 *
 * A block may rely on names it does not declare (`app`, a database handle): a hidden HTML comment
 * right before the block, `<!-- prelude: … -->`, holds the code that declares them. The prelude
 * is compiled with the block and never shown.
 */

/** One TypeScript block of a Markdown file. */
interface Snippet {
  /** The Markdown file, relative to the repository root. */
  file: string
  /** The 1-based line of the block's first code line in the Markdown file. */
  line: number
  /** The hidden prelude, possibly empty. */
  prelude: string
  code: string
}

/** The ```ts blocks of a Markdown text, with the prelude comment just before each. */
function snippetsOf(file: string, text: string): Snippet[] {
  const snippets: Snippet[] = []
  // Blocks shown inside a four-backtick fence are examples of Markdown, not code: blank them out,
  // keeping the line count.
  const markdown = text.replace(/^````[\s\S]*?^````/gm, (fence) => fence.replace(/[^\n]/g, ''))
  const block = /(?:<!--\s*prelude:\n([\s\S]*?)-->\s*\n)?```(?:ts|typescript)\n([\s\S]*?)```/g
  for (let match = block.exec(markdown); match !== null; match = block.exec(markdown)) {
    const opening = match.index + match[0].indexOf('```')
    const line = markdown.slice(0, opening).split('\n').length + 1
    snippets.push({ file, line, prelude: match[1] ?? '', code: match[2] })
  }
  return snippets
}

async function markdownFiles(): Promise<string[]> {
  const docs = (await readdir(join(root, 'docs'))).filter((name) => name.endsWith('.md'))
  const packages = await readdir(join(root, 'packages'))
  return [
    'README.md',
    ...docs.map((name) => `docs/${name}`),
    ...packages.map((name) => `packages/${name}/README.md`),
  ]
}

/**
 * Type-checks snippets in one tsc run and returns each error as `file.md:line: message`, with
 * the line in the Markdown file. The files live under test/node_modules so that imports of
 * express, koa, ioredis, … resolve to the test package's dependencies.
 */
async function typeCheck(snippets: readonly Snippet[]): Promise<string[]> {
  const dir = join(root, 'test', 'node_modules', '.docs-snippets')
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  const where = new Map<string, { snippet: Snippet; offset: number }>()
  for (const [index, snippet] of snippets.entries()) {
    const name = `${snippet.file.replace(/[^a-z0-9]+/gi, '-')}-${index}.ts`
    const prelude = snippet.prelude === '' ? '' : `${snippet.prelude.trimEnd()}\n`
    // `export {}` makes each block a module: its names are its own and top-level await works.
    await writeFile(join(dir, name), `${prelude}${snippet.code}\nexport {}\n`)
    where.set(name, { snippet, offset: prelude === '' ? 0 : prelude.split('\n').length - 1 })
  }
  // Modules a runtime provides rather than npm: on Workers the bindings' types come from `wrangler types`.
  await writeFile(
    join(dir, 'runtime-modules.d.ts'),
    "declare module 'cloudflare:workers' {\n  export const env: { LLM_LIMIT: import('@llm-limit/workers').LimitNamespace }\n}\n",
  )
  const source = (name: string) => relative(dir, join(root, 'packages', name, 'src', 'index.ts'))
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: relative(dir, join(root, 'tsconfig.base.json')),
      compilerOptions: {
        noEmit: true,
        strict: true,
        paths: Object.fromEntries(
          ['core', 'redis', 'express', 'koa', 'hono', 'client', 'workers', 'testing'].map((name) => [
            `@llm-limit/${name}`,
            [source(name)],
          ]),
        ),
      },
      files: ['runtime-modules.d.ts', ...where.keys()],
    }),
  )
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const output = await sh(process.execPath, [tsc, '-p', '.', '--pretty', 'false'], dir).catch(
    (error: Error) => error.message,
  )
  const errors: string[] = []
  for (const line of output.split('\n')) {
    const diagnostic = /^(\S+\.ts)\((\d+),\d+\): error (TS\d+: .*)$/.exec(line)
    if (!diagnostic) continue
    const found = where.get(diagnostic[1])
    if (found === undefined) {
      errors.push(line) // an error in a package source, reached through a snippet
      continue
    }
    const lineInBlock = Number(diagnostic[2]) - found.offset
    errors.push(
      lineInBlock < 1
        ? `${found.snippet.file}:${found.snippet.line}: in the prelude: ${diagnostic[3]}`
        : `${found.snippet.file}:${found.snippet.line + lineInBlock - 1}: ${diagnostic[3]}`,
    )
  }
  if (errors.length === 0 && /error/i.test(output) && !/^\s*$/.test(output)) errors.push(output)
  return errors
}

describe('TypeScript blocks in the README and docs', () => {
  it('compile under strict; a broken block is reported at its Markdown line', async () => {
    const snippets: Snippet[] = []
    for (const file of await markdownFiles()) {
      const text = await readFile(join(root, file), 'utf8').catch(() => undefined)
      if (text !== undefined) snippets.push(...snippetsOf(file, text))
    }
    expect(snippets.length).toBeGreaterThanOrEqual(15)
    // The negative control rides in the same tsc run: a block that must fail, and where.
    const broken = snippetsOf(
      'broken.md',
      [
        '# Broken',
        '',
        '<!-- prelude:',
        "import { llmLimit } from '@llm-limit/express'",
        '-->',
        '```ts',
        "llmLimit({ rules: [{ name: 'r', by: 'ip', requests: 5, per: '1m' }] })",
        "llmLimit({ rules: [{ name: 'r', by: 'ip', requets: 5, per: '1m' }] })",
        '```',
      ].join('\n'),
    )
    const errors = await typeCheck([...snippets, ...broken])
    expect(errors.filter((error) => !error.startsWith('broken.md:'))).toEqual([])
    expect(errors).toEqual([expect.stringMatching(/^broken\.md:8: TS\d+: .*'requets'/)])
  }, 120_000)
})
