// One way to describe bad input: "Expected <what> for <argument> but received <value>".

/** A received value already put in words (e.g. "a detached buffer"). */
export class Received {
  constructor(readonly text: string) {}
}

export const received = (text: string): Received => new Received(text);

/** A short, readable description of any value, for error messages. */
export function describe(value: unknown): string {
  if (value instanceof Received) return value.text;
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '...' : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) {
    return value.length <= 8 ? `[${value.map(describe).join(', ')}]` : `an array of length ${value.length}`;
  }
  if (ArrayBuffer.isView(value)) {
    return `a ${value.constructor.name} of length ${(value as unknown as { length?: number }).length ?? value.byteLength}`;
  }
  if (typeof value === 'function') return 'a function';
  const t = value as { dtype?: unknown; shape?: unknown };
  if (typeof t.dtype === 'string' && Array.isArray(t.shape)) return `a '${t.dtype}' tensor of shape ${describe(t.shape)}`;
  const name = (value as object).constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}

export function typeError(argument: string, expected: string, received: unknown): TypeError {
  return new TypeError(`Expected ${expected} for ${argument} but received ${describe(received)}`);
}

export function rangeError(argument: string, expected: string, received: unknown): RangeError {
  return new RangeError(`Expected ${expected} for ${argument} but received ${describe(received)}`);
}

/** Checks that `value` is an integer in [min, max]. */
export function checkInteger(argument: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number') throw typeError(argument, `an integer in [${min}, ${max}]`, value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw rangeError(argument, `an integer in [${min}, ${max}]`, value);
  }
  return value;
}
