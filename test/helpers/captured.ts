import { PassThrough } from 'node:stream';

/** A command's stdout and stderr as streams, and what each has received so far (`out`, `err`; a test may empty them). */
export interface Captured {
  readonly stdout: PassThrough;
  readonly stderr: PassThrough;
  out: string;
  err: string;
}

/** Two streams to hand a command as its stdout and stderr, collecting what it writes. */
export function captureOutput(): Captured {
  const io: Captured = { stdout: new PassThrough(), stderr: new PassThrough(), out: '', err: '' };
  io.stdout.on('data', (c: Buffer) => (io.out += c.toString()));
  io.stderr.on('data', (c: Buffer) => (io.err += c.toString()));
  return io;
}
