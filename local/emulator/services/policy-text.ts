/**
 * Reading IAM policy documents as IAM stores them: URL-encoded text (moto returns some documents
 * plain and some encoded), and the line/column span of each statement, which the policy simulator
 * reports in MatchedStatements so a person can find the statement in the document they wrote.
 */

export interface Position {
  Line: number;
  Column: number;
}

export interface StatementSpan {
  start: Position;
  end: Position;
}

/** The document's JSON text; IAM hands documents out URL-encoded, moto sometimes plain. */
export function decodePolicyText(text: string): string {
  try {
    JSON.parse(text);
    return text;
  } catch {
    return decodeURIComponent(text);
  }
}

const WHITESPACE = /\s/;

/**
 * A minimal JSON scanner that only finds where values start and end. The document was already
 * parsed with JSON.parse, so the scanner can trust the syntax and stay small.
 */
class Scanner {
  constructor(readonly text: string) {}

  skip(i: number): number {
    while (i < this.text.length && WHITESPACE.test(this.text[i]!)) i++;
    return i;
  }

  /** Index just past the string starting at `i` (a `"`). */
  string(i: number): number {
    for (i++; i < this.text.length; i++) {
      if (this.text[i] === '\\') i++;
      else if (this.text[i] === '"') return i + 1;
    }
    return i;
  }

  /** Index just past the value starting at `i`. */
  value(i: number): number {
    const ch = this.text[i];
    if (ch === '"') return this.string(i);
    if (ch === '{' || ch === '[') {
      const close = ch === '{' ? '}' : ']';
      i = this.skip(i + 1);
      while (this.text[i] !== close && i < this.text.length) {
        if (ch === '{') {
          i = this.skip(this.string(i));
          i = this.skip(i + 1); // the colon
        }
        i = this.skip(this.value(i));
        if (this.text[i] === ',') i = this.skip(i + 1);
      }
      return i + 1;
    }
    while (i < this.text.length && !/[\s,}\]]/.test(this.text[i]!)) i++;
    return i;
  }

  /** [start, end) of each element of the array at `i`, or of the value itself when not an array. */
  elements(i: number): Array<[number, number]> {
    if (this.text[i] !== '[') return [[i, this.value(i)]];
    const spans: Array<[number, number]> = [];
    i = this.skip(i + 1);
    while (this.text[i] !== ']' && i < this.text.length) {
      const end = this.value(i);
      spans.push([i, end]);
      i = this.skip(end);
      if (this.text[i] === ',') i = this.skip(i + 1);
    }
    return spans;
  }

  /** Where the value of the top-level object's `key` starts, if present. */
  topLevelValue(key: string): number | undefined {
    let i = this.skip(0);
    if (this.text[i] !== '{') return undefined;
    i = this.skip(i + 1);
    while (i < this.text.length && this.text[i] !== '}') {
      const keyEnd = this.string(i);
      const name = JSON.parse(this.text.slice(i, keyEnd)) as string;
      i = this.skip(this.skip(keyEnd) + 1);
      if (name === key) return i;
      i = this.skip(this.value(i));
      if (this.text[i] === ',') i = this.skip(i + 1);
    }
    return undefined;
  }

  position(offset: number): Position {
    const before = this.text.slice(0, offset);
    const lastBreak = before.lastIndexOf('\n');
    return { Line: before.split('\n').length, Column: offset - lastBreak };
  }
}

/** The span of each statement, in document order (1-based lines and columns, end exclusive). */
export function statementSpans(text: string): StatementSpan[] {
  const scanner = new Scanner(text);
  const at = scanner.topLevelValue('Statement');
  if (at === undefined) return [];
  return scanner
    .elements(at)
    .map(([start, end]) => ({ start: scanner.position(start), end: scanner.position(end) }));
}
