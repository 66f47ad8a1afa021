// The request limits the local gateway enforces as AWS does (docs/local.md#limits cites each one's page).

/** PutEvents: the entries of one request, summed as AWS sizes them (entrySize). */
export const PUT_EVENTS_MAX_BYTES = 256 * 1024;
export const PUT_EVENTS_MAX_ENTRIES = 10;
/** PutEvents processes nested JSON only this deep; a deeper Detail is refused. */
export const MAX_JSON_DEPTH = 1000;
/** StartExecution's input, in UTF-8 bytes. */
export const EXECUTION_INPUT_MAX_BYTES = 256 * 1024;
export const EXECUTION_NAME_MAX_LENGTH = 80;
/**
 * A request body to the gateway's own APIs. Above the largest valid request: 256 KB of Detail or input can take up
 * to six times as many bytes once escaped into the request's JSON (a control character becomes `\\u0000`).
 */
export const API_BODY_MAX_BYTES = 2 * 1024 * 1024;
/** A request body passed on to DynamoDB Local or moto: DynamoDB's largest request (BatchWriteItem) is 16 MB. */
export const PASSTHROUGH_BODY_MAX_BYTES = 16 * 1024 * 1024;

export interface SizedEntry {
  readonly Time?: unknown;
  readonly Source?: string;
  readonly DetailType?: string;
  readonly Detail?: string;
  readonly Resources?: readonly string[];
}

/** "Calculating Amazon EventBridge PutEvents event entry size": Time 14 bytes, the strings by their UTF-8 bytes. */
export function entrySize(entry: SizedEntry): number {
  const bytes = (s: string | undefined) => (s === undefined ? 0 : Buffer.byteLength(s, "utf8"));
  return (
    (entry.Time === undefined ? 0 : 14) +
    bytes(entry.Source) +
    bytes(entry.DetailType) +
    bytes(entry.Detail) +
    (entry.Resources ?? []).reduce((sum, r) => sum + bytes(r), 0)
  );
}

const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Whether a JSON text nests objects and arrays more than `max` deep; read without parsing, so any depth is safe. */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > max) return true;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) depth--;
  }
  return false;
}

// Whitespace, brackets, wildcards, the special characters, control characters, U+FFFE-FFFF, lone surrogates and
// U+10FFFF.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const NAME_FORBIDDEN = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f\ufffe\uffff\u{10ffff}]|\p{Cs}/u;

/** Why StartExecution refuses an execution name (InvalidName), or undefined for a valid one. */
export function executionNameProblem(name: string): string | undefined {
  const length = [...name].length;
  if (length < 1 || length > EXECUTION_NAME_MAX_LENGTH)
    return `the name is ${length} characters long; it must have 1 to ${EXECUTION_NAME_MAX_LENGTH}`;
  if (NAME_FORBIDDEN.test(name)) return "the name contains a character that is not allowed";
  return undefined;
}
