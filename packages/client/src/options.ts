import { ClientError } from './errors.js'

/** The longest delay `setTimeout` can wait (about 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2_147_483_647

/** A bad value as a message shows it: short, and readable whatever its type. */
function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'function') return 'a function'
  if (typeof value !== 'object' || value === null) return String(value)
  return Array.isArray(value) ? 'an array' : 'an object'
}

function fail(option: string, expected: string, value: unknown): never {
  throw new ClientError('ERR_CONFIG', `Expected \`${option}\` to be ${expected}, got ${shown(value)}.`)
}

/** The options object itself: undefined for the defaults, else a plain object. */
export function optionsObject<T extends object>(value: T | undefined, factory: string): T {
  if (value === undefined) return {} as T
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(`${factory}(options)`, 'an object of options', value)
  return value
}

/** A number from `min` to `max` (whole when `whole`), or `fallback` when not given. */
export function numberOption(
  value: unknown,
  fallback: number,
  option: string,
  {
    min = 0,
    max = Number.MAX_SAFE_INTEGER,
    whole = false,
  }: { min?: number; max?: number; whole?: boolean } = {},
): number {
  if (value === undefined) return fallback
  const ok = typeof value === 'number' && value >= min && value <= max && (!whole || Number.isInteger(value))
  if (!ok) fail(option, `${whole ? 'a whole number' : 'a number'} from ${min} to ${max}`, value)
  return value as number
}

/** A function, or undefined when not given. */
export function functionOption<F>(value: F | undefined, option: string): F | undefined {
  if (value !== undefined && typeof value !== 'function') fail(option, 'a function', value)
  return value
}
