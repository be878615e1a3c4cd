import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { countedBefore, exposeDecision, shareHiddenClass } from './request-slot.js'

/**
 * Holds two Express requests in a middleware at once and asks V8 (natives syntax, so in a process
 * of its own) whether they share a hidden class there; `share` first passes each through
 * shareHiddenClass, `limit` mounts llmLimit before the probe.
 */
const probe = `
const [mode, slotUrl, limitUrl] = process.argv.slice(1)
const { shareHiddenClass } = await import(slotUrl)
const { llmLimit } = await import(limitUrl)
const { default: express } = await import('express')
const http = await import('node:http')
const held = []
let hold = false
const app = express()
if (mode === 'limit') app.use(llmLimit({ rules: [{ name: 'many', requests: 1000000, per: '1m' }] }))
app.use((req, res, next) => {
  if (mode === 'share') { shareHiddenClass(req); shareHiddenClass(res) }
  if (!hold) return next()
  held.push({ req, res, next })
  if (held.length < 2) return
  const [a, b] = held
  const plain = { a: 1 }
  const other = { a: 2 }
  if (mode === 'share') { shareHiddenClass(plain); shareHiddenClass(other) }
  console.log(JSON.stringify({
    req: %HaveSameMap(a.req, b.req),
    res: %HaveSameMap(a.res, b.res),
    plainFast: %HasFastProperties(plain),
    plainShared: %HaveSameMap(plain, other),
  }))
  for (const entry of held) entry.next()
})
app.get('/', (_req, res) => res.end('ok'))
const server = app.listen(0, '127.0.0.1', async () => {
  const get = () => new Promise((resolve) =>
    http.get({ host: '127.0.0.1', port: server.address().port, path: '/' }, (response) => {
      response.resume()
      response.on('end', resolve)
    }))
  await get()
  // The held requests start from a freshly collected heap, so a collection is unlikely to fall among them.
  globalThis.gc()
  hold = true
  await Promise.all([get(), get()])
  server.close()
})
`

function hiddenClasses(mode: 'share' | 'leave' | 'limit') {
  const slotUrl = new URL('./request-slot.ts', import.meta.url).href
  const limitUrl = new URL('./llm-limit.ts', import.meta.url).href
  const output = execFileSync(
    process.execPath,
    // The workspace packages' `source` export: their TypeScript, built or not.
    [
      '--allow-natives-syntax',
      '--expose-gc',
      '--conditions=source',
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      probe,
      mode,
      slotUrl,
      limitUrl,
    ],
    // From this package, whose dependencies include Express.
    { encoding: 'utf8', timeout: 20_000, cwd: fileURLToPath(new URL('..', import.meta.url)) },
  )
  return JSON.parse(output) as { req: boolean; res: boolean; plainFast: boolean; plainShared: boolean }
}

/**
 * The probe's answer once the requests shared a hidden class, trying up to three processes: on a
 * loaded machine one probe of llmLimit has seen them split, which the same code never showed again.
 * Without the step no process ever sees them shared, so a retry cannot hide a missing step.
 */
function sharedWithin(mode: 'share' | 'limit') {
  let result = hiddenClasses(mode)
  for (let attempt = 1; attempt < 3 && !(result.req && result.res); attempt++) result = hiddenClasses(mode)
  return result
}

describe('shareHiddenClass', () => {
  it('gives every Express request and response one shared hidden class, which they lack without it', () => {
    expect(hiddenClasses('leave')).toMatchObject({ req: false, res: false })
    expect(sharedWithin('share')).toEqual({ req: true, res: true, plainFast: true, plainShared: true })
  })

  it('is the first step llmLimit takes', () => {
    expect(sharedWithin('limit')).toMatchObject({ req: true, res: true })
  })

  it('changes no property, value or key order, and leaves frozen objects alone', () => {
    const target = Object.setPrototypeOf({ a: 1, b: 'two' }, { inherited: true }) as Record<string, unknown>
    target.c = 3
    shareHiddenClass(target)
    expect(Reflect.ownKeys(target)).toEqual(['a', 'b', 'c'])
    expect(target).toEqual({ a: 1, b: 'two', c: 3 })
    expect(target.inherited).toBe(true)
    const frozen = Object.freeze({ a: 1 })
    expect(() => shareHiddenClass(frozen)).not.toThrow()
    expect(Reflect.ownKeys(frozen)).toEqual(['a'])
  })
})

describe('the request slot', () => {
  it('counts a request once per middleware, however many mount it', () => {
    const req = {}
    const first = () => {}
    const second = () => {}
    expect(countedBefore(req, first)).toBe(false)
    expect(countedBefore(req, first)).toBe(true)
    expect(countedBefore(req, second)).toBe(false)
    expect(countedBefore(req, second)).toBe(true)
    expect(countedBefore(req, first)).toBe(true)
    expect(Object.keys(req)).toEqual([])
  })

  it('exposes the decision as req.llmLimit', () => {
    const req: { llmLimit?: unknown } = {}
    const decision = { allowed: true } as Parameters<typeof exposeDecision>[1]
    exposeDecision(req, decision)
    expect(req.llmLimit).toBe(decision)
  })
})
