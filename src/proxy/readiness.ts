/**
 * Readiness checks (/readyz): each names what it checked and whether it holds. Details are
 * short words for operators, never paths, addresses or error text, since /readyz may be public.
 */

export interface ReadinessCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export type ReadinessProbe = () => ReadinessCheck | Promise<ReadinessCheck>;

/** Runs every probe concurrently; a probe that throws counts as failing. */
export async function readinessOf(probes: readonly ReadinessProbe[]): Promise<ReadinessCheck[]> {
  return Promise.all(
    probes.map(async (probe, index) => {
      try {
        return await probe();
      } catch {
        return { name: `check ${index + 1}`, ok: false, detail: 'probe failed' };
      }
    }),
  );
}
