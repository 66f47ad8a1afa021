// The trading API's read side: the routes (api.ts), the compliance-table reads they use, and problem details.
export { answer, type QueryDeps, ROUTE_KEYS } from "./api";
export {
  ApiProblem,
  type HttpResponse,
  internalProblem,
  PROBLEMS,
  type ProblemBody,
  type ProblemCode,
  problemResponse,
} from "./problem";
export type { Fill, OrderDetail, OrderVersion, Page } from "./reads";
