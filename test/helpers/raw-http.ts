// Raw HTTP over node:net, for clients no HTTP library would be: silent, slow, writing a whole body before reading.
import { connect, type Socket } from 'node:net';

/** What a raw connection received before it closed. */
export interface RawExchange {
  /** Everything the server sent, as text. */
  readonly text: string;
  /** The status of the first response, or undefined when none arrived. */
  readonly status: number | undefined;
  /** The first response's body (after the blank line), as sent. */
  readonly body: string;
  /** Milliseconds from connecting to the close. */
  readonly closedAfterMs: number;
  /** The socket error, if the connection ended with one (EPIPE, ECONNRESET). */
  readonly error: string | undefined;
}

/** An open raw connection; `done` resolves when the server (or `destroy()`) closed it. */
export interface RawConnection {
  readonly socket: Socket;
  readonly done: Promise<RawExchange>;
  /** Resolves once the connection is established. */
  readonly connected: Promise<void>;
  /** The text received so far. */
  received(): string;
}

/** Connects to 127.0.0.1:`port` and lets `drive` write (or not) whatever it likes. */
export function rawConnection(port: number, drive: (socket: Socket) => void = () => {}): RawConnection {
  const start = Date.now();
  const socket = connect(port, '127.0.0.1');
  let text = '';
  let error: string | undefined;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const done = new Promise<RawExchange>((resolve) => {
    socket.on('close', () => {
      const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
      const split = text.indexOf('\r\n\r\n');
      resolve({
        text,
        status: match ? Number(match[1]) : undefined,
        body: split < 0 ? '' : text.slice(split + 4),
        closedAfterMs: Date.now() - start,
        error,
      });
    });
  });
  void connected.then(() => drive(socket));
  return { socket, done, connected, received: () => text };
}

/** The head of a JSON POST whose body is `length` bytes long. */
export function jsonPostHead(path: string, length: number, extra = ''): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${length}\r\n${extra}\r\n`
  );
}
