import { EXECUTION_NAME_MAX_LENGTH, entrySize, executionNameProblem, jsonDepthExceeds } from "../../local/limits";

describe("entrySize (AWS's PutEvents entry size calculation)", () => {
  test("Time is 14 bytes; Source, DetailType, Detail and each Resource their UTF-8 bytes", () => {
    expect(entrySize({ Source: "s", DetailType: "dt", Detail: "{}" })).toBe(5);
    expect(entrySize({ Time: new Date(), Source: "s", DetailType: "dt", Detail: "{}" })).toBe(19);
    expect(entrySize({ Source: "é", DetailType: "€", Detail: '{"a":"𝄞"}', Resources: ["r1", "ü"] })).toBe(
      2 + 3 + 12 + 2 + 2,
    );
  });
  test("escapes count as the characters sent, not as their JSON encoding", () => {
    expect(entrySize({ Detail: JSON.stringify({ q: '""' }) })).toBe('{"q":"\\"\\""}'.length);
  });
});

describe("jsonDepthExceeds", () => {
  const nested = (depth: number) => `${'{"a":'.repeat(depth - 1)}{}${"}".repeat(depth - 1)}`;
  test("objects and arrays count; the limit itself is allowed", () => {
    expect(jsonDepthExceeds(nested(1000), 1000)).toBe(false);
    expect(jsonDepthExceeds(nested(1001), 1000)).toBe(true);
    expect(jsonDepthExceeds(`[${"[".repeat(5)}${"]".repeat(5)}]`, 5)).toBe(true);
  });
  test("brackets inside strings, escaped quotes included, do not count", () => {
    expect(jsonDepthExceeds(JSON.stringify({ a: '\\"[[[[{{{{' }), 1)).toBe(false);
  });
  test("a million levels are read without recursion", () => {
    expect(jsonDepthExceeds("[".repeat(1_000_000), 1000)).toBe(true);
  });
});

describe("executionNameProblem", () => {
  test("1 to 80 characters, counted as characters", () => {
    expect(executionNameProblem("a")).toBeUndefined();
    expect(executionNameProblem("é".repeat(EXECUTION_NAME_MAX_LENGTH))).toBeUndefined();
    expect(executionNameProblem("a".repeat(EXECUTION_NAME_MAX_LENGTH + 1))).toContain("81 characters");
    expect(executionNameProblem("")).toContain("0 characters");
  });
  test.each([" ", "<", "}", "[", "?", "*", '"', "#", "%", "\\", "^", "|", "~", "`", "$", "&", ",", ";", ":", "/"])(
    "%j is refused",
    (c) => expect(executionNameProblem(`a${c}b`)).toBeDefined(),
  );
  test("control characters, U+FFFE, lone surrogates and U+10FFFF are refused; astral characters are not", () => {
    for (const c of ["\u0000", "\u007f", "\u0085", "\ufffe", "\ud800", "\u{10ffff}"])
      expect(executionNameProblem(`a${c}b`)).toBeDefined();
    expect(executionNameProblem("order-𝄞-1")).toBeUndefined();
  });
});
