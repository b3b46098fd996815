/** Runs `fn` over `items` with at most `limit` calls in flight; resolves when all have settled. */
export async function eachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  if (!(Number.isInteger(limit) && limit >= 1)) throw new Error(`eachLimit: limit ${limit} must be >= 1`);
  let next = 0;
  let firstError: unknown = null;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (error) {
        firstError ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (firstError !== null) throw firstError;
}

/**
 * Waits for every promise, then throws the first rejection (like Promise.all, except that
 * nothing is left running when it throws: a caller that cleans up after a failure, or reuses
 * the buffers the calls were given, does so only once they have all stopped).
 */
export async function allSettledOrThrow(promises: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
