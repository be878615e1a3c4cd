export {
  anthropicError,
  anthropicMessagesAnswer,
  type Ending,
  type FakeAnswer,
  type FakeAnswerOptions,
  type FakeApi,
  fakeAnswers,
  openAiChatAnswer,
  openAiError,
  openAiResponsesAnswer,
} from './fake-answers.js'
export { FAKE_CLOCK_START, type FakeClock, fakeClock } from './fake-clock.js'
export { type FakeCall, type FakeUpstream, type FakeUpstreamOptions, fakeUpstream } from './fake-upstream.js'
export { resetLimiter, type TestLimiter, testLimiter } from './reset-limiter.js'
export { type ContractCapabilities, type ContractSetup, storeContract } from './store-contract.js'
