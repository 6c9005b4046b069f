/**
 * Conformance suites for dgent's contracts, for our backends and third-party ones. Requires vitest
 * and fast-check (dev dependencies of the caller).
 */
export { dataAgentContract, arbitraryExtendedState } from './data-agent-contract.js';
export type { AgentCapability, AgentPlace, AgentTyping, DataAgentContractOptions } from './data-agent-contract.js';
export { eventLogContract } from './event-log-contract.js';
export type { EventLogCapability, EventLogContractOptions, EventLogPlace, ContractContext as EventLogContractContext } from './event-log-contract.js';
