/**
 * An array of `length` zeros that V8 holds as unboxed doubles in a store of exactly that size. Made
 * from doubles, it never changes representation when a fraction or an epoch-ms value is written;
 * copied with `slice`, it keeps none of the spare room `push` leaves (17 slots at the first element),
 * which a long-lived array would carry for its whole life.
 */
export function exactDoubles(length: number): number[] {
  const pushed = [0.5]
  while (pushed.length < length) pushed.push(0.5)
  const doubles = pushed.slice(0, length)
  doubles.fill(0)
  return doubles
}
