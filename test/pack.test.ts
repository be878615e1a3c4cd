import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { type PackageName, PUBLISHED, packPackages, root, sh } from './support/packed-packages.js'

/** What every tarball must hold for its npm page and for ESM, CJS and TypeScript consumers. */
const REQUIRED = [
  'package/README.md',
  'package/LICENSE',
  'package/package.json',
  'package/dist/index.js',
  'package/dist/index.cjs',
  'package/dist/index.d.ts',
  'package/dist/index.d.cts',
]

/** The files of a tarball that are missing from `required`, so a failure names them. */
function missingFiles(listing: readonly string[], required: readonly string[] = REQUIRED): string[] {
  return required.filter((file) => !listing.includes(file))
}

describe('npm pack of every published package', () => {
  let tarballs: Record<PackageName, string>
  beforeAll(async () => {
    tarballs = await packPackages()
  }, 240_000)

  it('the check names what a tarball lacks (negative control)', () => {
    expect(missingFiles(['package/package.json', 'package/dist/index.js'])).toEqual([
      'package/README.md',
      'package/LICENSE',
      'package/dist/index.cjs',
      'package/dist/index.d.ts',
      'package/dist/index.d.cts',
    ])
  })

  it.each(PUBLISHED)(
    '@llm-limit/%s holds README, LICENSE, ESM + CJS builds and their types',
    async (name) => {
      const listing = (await sh('tar', ['-tzf', tarballs[name]], root)).split('\n').filter(Boolean)
      expect(missingFiles(listing)).toEqual([])
      // No test files and no workspace protocol reach the registry.
      expect(listing.filter((file) => file.endsWith('.test.ts'))).toEqual([])
      const manifest = await sh('tar', ['-xzOf', tarballs[name], 'package/package.json'], root)
      expect(manifest).not.toContain('workspace:')
      expect(JSON.parse(manifest)).toMatchObject({ license: 'MIT' })
      const readme = await sh('tar', ['-xzOf', tarballs[name], 'package/README.md'], root)
      expect(readme).toMatch(new RegExp(`^# @llm-limit/${name}\\n`))
      expect(readme).toContain(`npm install @llm-limit/${name}`)
      const license = await sh('tar', ['-xzOf', tarballs[name], 'package/LICENSE'], root)
      expect(license).toBe(await readFile(join(root, 'LICENSE'), 'utf8'))
    },
  )
})
