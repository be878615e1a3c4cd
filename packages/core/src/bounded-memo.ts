/**
 * Remembers `compute` for at most `limit` keys. A flood of new keys (rotating IPv6 addresses, minted
 * API keys) clears the memo rather than growing it; hot keys are back after one miss each.
 */
export function boundedMemo<Key, Value>(limit: number, compute: (key: Key) => Value): (key: Key) => Value {
  const memo = new Map<Key, Value>()
  return (key) => {
    let value = memo.get(key)
    if (value === undefined) {
      value = compute(key)
      if (memo.size >= limit) memo.clear()
      memo.set(key, value)
    }
    return value
  }
}
