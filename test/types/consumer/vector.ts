/** A consumer of dgent/vector, checked like the others. */
import { VectorAgent } from 'dgent/vector';

export async function vectors(env: Record<string, string | undefined>): Promise<void> {
  const agent = new VectorAgent<{ title: string }>({ dimension: 3, metric: 'cosine', index: undefined, path: env['VECTOR_PATH'] });
  await agent.add([{ id: 'a', vector: [1, 0, 0], data: { title: 'x' } }]);
  const hits = await agent.search([1, 0, 0], { k: 1, filter: undefined });
  const title: string | undefined = hits[0]?.data?.title;
  void title;
  await agent.close();
}
