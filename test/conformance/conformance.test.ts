import { parseWindow } from '@llm-limit/core'
import { afterEach, describe, expect, it } from 'vitest'
import {
  expressHarness,
  type Harness,
  honoNodeHarness,
  honoRequestHarness,
  koaHarness,
  type Received,
} from './apps.js'
import { type Scenario, scenarios } from './scenarios.js'

const adapters = {
  express: expressHarness,
  koa: koaHarness,
  'hono app.request': honoRequestHarness,
  'hono node-server': honoNodeHarness,
}

/** Headers that differ by framework or by the second, not by behaviour. */
const VOLATILE =
  /^(date|connection|keep-alive|content-length|transfer-encoding|etag|x-powered-by|vary|x-ratelimit-reset|ratelimit|ratelimit-reset|x-ratelimit-reset-(requests|tokens)|retry-after|retry-after-ms)$/

/** The scenario's calendar rules: their policy window counts down to the next reset, so it moves with the clock. */
function calendarRules(scenario: Scenario): Set<string> {
  const rules = scenario.options?.().rules ?? []
  return new Set(
    rules
      .filter((rule) => rule.per !== undefined && parseWindow(rule.per, 'per').kind === 'calendar')
      .map((rule) => String(rule.name)),
  )
}

function normalise(response: Received, calendar: Set<string>) {
  const headers = Object.fromEntries(
    Object.entries(response.headers)
      .filter(([name]) => !VOLATILE.test(name))
      .map(([name, value]) => [
        name,
        name === 'content-type'
          ? String(value)
              .replace(/;\s*charset=utf-8/i, '')
              .toLowerCase()
          : name === 'ratelimit-policy'
            ? String(value).replace(/"([^"]+)";[^,]*/g, (item, rule: string) =>
                calendar.has(rule) ? item.replace(/;w=\d+/, ';w=…') : item,
              )
            : String(value),
      ]),
  )
  let body = response.body
  try {
    body = JSON.stringify(JSON.parse(body))
  } catch {}
  // Wait times in messages move with the clock between frameworks' runs.
  body = body
    .replace(/(Retry in|resets in) [\d.]+(ms|s|m|h|d)/g, '$1 …')
    .replace(/"retryAfterMs":\d+/, '"retryAfterMs":…')
  return { status: response.status, headers, body }
}

describe.each(scenarios)('$name', (scenario) => {
  const seen: Record<string, ReturnType<typeof normalise>[]> = {}
  const calendar = calendarRules(scenario)
  let harness: Harness | undefined
  afterEach(async () => {
    await harness?.close()
    harness = undefined
  })

  it.each(Object.keys(adapters))('%s', async (name) => {
    harness = await adapters[name as keyof typeof adapters](scenario.options?.())
    const responses: ReturnType<typeof normalise>[] = []
    for (const [index, step] of scenario.steps.entries()) {
      const response = await harness.send(step.send)
      try {
        step.expect(response)
      } catch (error) {
        throw new Error(`step ${index + 1} (${step.send.path}): ${(error as Error).message}`)
      }
      responses.push(normalise(response, calendar))
    }
    seen[name] = responses
  })

  it('statuses, headers and bodies are identical across frameworks', () => {
    const [first, ...rest] = Object.keys(adapters)
    for (const name of rest) expect(seen[name], `${name} vs ${first}`).toEqual(seen[first])
  })
})
