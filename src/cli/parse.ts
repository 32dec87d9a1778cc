/**
 * Parsing of option values given on the command line.
 *
 * @module
 */

import { UsageError } from "../errors.ts";

/**
 * Splits a command given as one string: a JSON array is taken as is (exec
 * form); otherwise words are split like a shell does (quotes and
 * backslashes, no expansion).
 *
 * @example
 * ```ts
 * import { parseCommand } from "./parse.ts";
 * parseCommand(`nginx -g 'daemon off;'`); // ["nginx", "-g", "daemon off;"]
 * parseCommand(`["/bin/sh", "-c", "echo hi"]`); // ["/bin/sh", "-c", "echo hi"]
 * ```
 */
export function parseCommand(value: string, option = "--cmd"): string[] {
  const trimmed = value.trim();
  if (trimmed.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new UsageError(`Invalid ${option} value: not a valid JSON array: ${value}`, {
        solution: `Use a JSON array of strings like '["/bin/sh", "-c", "echo hi"]', or a plain command line`,
      });
    }
    if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === "string")) {
      throw new UsageError(`Invalid ${option} value: the JSON array must hold strings only`, {
        solution: `Use a JSON array of strings like '["/bin/sh", "-c", "echo hi"]'`,
      });
    }
    return parsed;
  }
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && i + 1 < value.length && '"\\$`'.includes(value[i + 1])) word += value[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < value.length) {
      word += value[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) {
    throw new UsageError(`Invalid ${option} value: unterminated ${quote} quote: ${value}`, {
      solution: "Close the quote, or give a JSON array",
    });
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * Parses a positive whole number option.
 *
 * @example
 * ```ts
 * import { parsePositiveInt } from "./parse.ts";
 * parsePositiveInt("4", "--workers"); // 4
 * ```
 */
export function parsePositiveInt(value: string, option: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new UsageError(`Invalid ${option} value '${value}'`, { solution: `${option} takes a whole number >= 1` });
  }
  return Number(value);
}

/**
 * Reads `SOURCE_DATE_EPOCH` as a date, or undefined when it is unset.
 *
 * @example
 * ```ts
 * import { sourceDateEpoch } from "./parse.ts";
 * sourceDateEpoch("1700000000")?.toISOString(); // "2023-11-14T22:13:20.000Z"
 * ```
 */
export function sourceDateEpoch(value: string | undefined): Date | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^\d+$/.test(value)) {
    throw new UsageError(`Invalid SOURCE_DATE_EPOCH '${value}'`, {
      solution: "Set SOURCE_DATE_EPOCH to whole seconds since 1970-01-01 UTC, or unset it",
    });
  }
  return new Date(Number(value) * 1000);
}
