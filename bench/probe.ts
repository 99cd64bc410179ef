/**
 * Loaded with `--import` into a benchmarked process started with `--expose-gc`: on SIGUSR2 it
 * collects garbage and reports the heap on stderr, so heap figures compare like with like
 * instead of wherever the collector happened to be.
 */
process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  process.stderr.write(`BENCH_HEAP ${JSON.stringify({ heapUsed: m.heapUsed, heapTotal: m.heapTotal, rss: m.rss, collected: gc !== undefined })}\n`);
});
