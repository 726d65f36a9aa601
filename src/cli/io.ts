// What a CLI command may touch: its input and output streams. Commands return an exit code and
// never call process.exit, so they can be tested in-process.

export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
  /** What a command reads for "-" (default: process.stdin). */
  stdin?: AsyncIterable<Uint8Array | string>;
}

export const processIo: CommandIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/** Bad command-line usage: exit code 2 with the command's usage text. */
export class UsageError extends Error {
  readonly usage: string;
  constructor(message: string, usage: string) {
    super(message);
    this.name = 'UsageError';
    this.usage = usage;
  }
}
