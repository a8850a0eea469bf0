/**
 * The one error type the client reports through `onError`.
 *
 * `code` is stable snake_case: the server's own code for `error` frames and REST errors
 * (`ack_stale`, `token_expired`, ...), or one of the client's:
 * `auth_failed` (a credentials callback threw), `ticket_failed`, `connect_failed`,
 * `closed` (the server closed the socket; see `closeCode`), `gap_fill_failed`,
 * `handler_failed` (an application handler threw), `store_failed`, `bad_frame`.
 * `fatal` is true when the client stopped because of it.
 */
export class TidingsError extends Error {
  readonly code: string;
  readonly fatal: boolean;
  readonly closeCode: number | null;
  readonly status: number | null;

  constructor(
    code: string,
    message: string,
    options: { fatal?: boolean; closeCode?: number | null; status?: number | null; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TidingsError";
    this.code = code;
    this.fatal = options.fatal ?? false;
    this.closeCode = options.closeCode ?? null;
    this.status = options.status ?? null;
  }
}
