import { describe, expect, it } from 'vitest'
import { storeContract } from './store-contract.js'

describe('storeContract arguments', () => {
  it('refuses a missing name or setup with a message that says what to give', () => {
    expect(() => storeContract('  ', async () => ({}) as never)).toThrow(/non-empty name/)
    expect(() => storeContract('mine', undefined as never)).toThrow(/returns \{ store, advance \}/)
  })
})
