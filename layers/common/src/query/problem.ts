// RFC 9457 problem details: every error the API answers, with a stable code clients match on.

export const PROBLEMS = {
  INVALID_REQUEST: { status: 400, title: "Invalid request" },
  INVALID_CURSOR: { status: 400, title: "Invalid cursor" },
  ORDER_NOT_FOUND: { status: 404, title: "Order not found" },
  UNKNOWN_SYMBOL: { status: 404, title: "Unknown symbol" },
  INTERNAL: { status: 500, title: "Internal error" },
} as const;

export type ProblemCode = keyof typeof PROBLEMS;

export const PROBLEM_TYPE_BASE = "https://tradeflow.example/problems/";

export interface ProblemBody {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: ProblemCode;
}

/** A refusal the API reports as it is: its detail is meant for the caller (never internals). */
export class ApiProblem extends Error {
  override readonly name = "ApiProblem";
  readonly status: number;

  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.status = PROBLEMS[code].status;
  }

  body(): ProblemBody {
    const { status, title } = PROBLEMS[this.code];
    const type = `${PROBLEM_TYPE_BASE}${this.code.toLowerCase().replaceAll("_", "-")}`;
    return { type, title, status, detail: this.detail, code: this.code };
  }
}

/** What every unexpected failure becomes: the details stay in the log. */
export const internalProblem = () => new ApiProblem("INTERNAL", "The request could not be completed.");

export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export const jsonResponse = (body: unknown, statusCode = 200): HttpResponse => ({
  statusCode,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

export const problemResponse = (problem: ApiProblem): HttpResponse => ({
  statusCode: problem.status,
  headers: { "content-type": "application/problem+json" },
  body: JSON.stringify(problem.body()),
});
