/**
 * Real LangGraph graphs for the DgentSaver tests and bench: a chat graph whose only node calls a
 * deterministic fake chat model (no network), with the standard messages reducer or, for the
 * comparison, LangGraph's DeltaChannel; and a graph that interrupts for a human answer.
 */
import { HumanMessage, type BaseMessage } from '@langchain/core/messages';
import { FakeListChatModel } from '@langchain/core/utils/testing';
import { END, interrupt, MessagesAnnotation, MessagesDeltaValue, START, StateGraph, StateSchema, type BaseCheckpointSaver } from '@langchain/langgraph';

/** Replies of the fake model: varied, ~200-300 characters, deterministic. */
export const REPLIES = Array.from({ length: 7 }, (_, i) =>
  `Reply ${i}: here is a considered answer that restates the question, weighs two options and recommends the second one, ` +
  `because it keeps the state small and the history auditable. ${'Details follow. '.repeat(i % 3)}`,
);

export function fakeModel(): FakeListChatModel {
  return new FakeListChatModel({ responses: REPLIES });
}

/** The user's message of turn `n` (~60-90 characters). */
export function userMessage(n: number): HumanMessage {
  return new HumanMessage(`Turn ${n}: what should we do about item ${n % 17}, given what we said so far?`);
}

/** START -> agent (the fake model answers the conversation) -> END. `delta`: messages in a DeltaChannel. */
export function chatGraph(checkpointer: BaseCheckpointSaver, options: { delta?: boolean } = {}) {
  const model = fakeModel();
  const agent = async (state: { messages: BaseMessage[] }) => ({ messages: [await model.invoke(state.messages)] });
  if (options.delta) {
    const State = new StateSchema({ messages: MessagesDeltaValue });
    return new StateGraph(State).addNode('agent', agent).addEdge(START, 'agent').addEdge('agent', END).compile({ checkpointer });
  }
  return new StateGraph(MessagesAnnotation).addNode('agent', agent).addEdge(START, 'agent').addEdge('agent', END).compile({ checkpointer });
}

/** START -> draft (fake model) -> review (interrupts for a human verdict, appends it) -> END. */
export function reviewGraph(checkpointer: BaseCheckpointSaver) {
  const model = fakeModel();
  return new StateGraph(MessagesAnnotation)
    .addNode('draft', async (state) => ({ messages: [await model.invoke(state.messages)] }))
    .addNode('review', (state) => {
      const verdict = interrupt({ question: 'approve?', draft: state.messages.at(-1)?.content }) as string;
      return { messages: [new HumanMessage(`review: ${verdict}`)] };
    })
    .addEdge(START, 'draft')
    .addEdge('draft', 'review')
    .addEdge('review', END)
    .compile({ checkpointer });
}
