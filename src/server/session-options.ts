/**
 * The ONNX Runtime session options of every model modeldeck loads: a module of its own, without side effects, so that
 * the benchmarks' direct transformers.js baseline runs with the very same ones.
 *
 * ONNX Runtime's intra-op thread pool spins between operators by default. Measured per thread during streamed chats
 * (`/proc/self/task/{tid}/stat`), the pool thread of the 100 MB demo model used a whole core while the model worker
 * used 0.8 of the other, so the main thread, which writes the SSE frames, could only run by preempting the
 * generation; and a spinning session steals a core from any other model generating in the same server. Without
 * spinning the pool thread used half as much CPU, and a generation with an idle main thread was as fast either way
 * (`npm run bench`, chat streaming).
 */
export const SESSION_OPTIONS = {
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
};
