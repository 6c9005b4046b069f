/**
 * The one answer to "is this a CI run?" for every test, suite and benchmark of dgent. Under CI an
 * optional component that cannot be used (a service, faiss-node) fails the run instead of skipping.
 *
 * CI services set `CI` to different values (`true` on GitHub Actions and most others, `1` on some,
 * `True` on AppVeyor), so any value other than empty, `0` or `false` counts, as in the `ci-info`
 * package.
 */

/** True when `env.CI` is set to anything but empty, `0` or `false` (case-insensitive). */
export function isCI(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const v = env.CI?.trim().toLowerCase();
  return v !== undefined && v !== '' && v !== '0' && v !== 'false';
}

/** {@link isCI} for this process, read once at start. */
export const IN_CI: boolean = isCI();
