import { setFlagsFromString } from 'node:v8'
import { describe, expect, it } from 'vitest'
import { Entry } from './entry.js'

setFlagsFromString('--allow-natives-syntax')
/** V8's own answer to "do these objects share a hidden class?" (natives syntax, enabled just above). */
const sameShape = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean

/** An entry as a sliding window, a token bucket and a fixed window leave it: fractions and epoch ms. */
function used(entry: { tat: number; start: number; count: number; head: number }): void {
  entry.tat = 1_764_900_000_123.25
  entry.start = 1_764_900_000_000
  entry.count = 2.5
  entry.head = 0.75
}

describe('Entry', () => {
  it('keeps one hidden class whatever numbers it holds, so a million stored entries are never copied to a new one', () => {
    const untouched = new Entry()
    const written = new Entry()
    used(written)
    expect(sameShape(untouched, written)).toBe(true)
    expect(sameShape(new Entry(), written)).toBe(true)
  })

  it('negative control: number fields that start as small integers change the hidden class of every object on the first fraction', () => {
    class Plain {
      tat = 0
      start = 0
      count = 0
      head = 0
    }
    const untouched = new Plain()
    const written = new Plain()
    used(written)
    expect(sameShape(untouched, written)).toBe(false)
  })
})
