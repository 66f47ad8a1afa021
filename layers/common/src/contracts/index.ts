// Event contracts: what arrives on the bus, what the Validate and Enrich states return, and the rejection error.

export * from "./engine";
export * from "./envelope";
export * from "./errors";
export * from "./events";
export {
  Currency,
  canonicalDecimal,
  Decimal,
  Identifier,
  InstrumentSymbol,
  PositiveDecimal,
  preview,
  utcMillis,
} from "./fields";
export * from "./orders";
export * from "./reasons";
export * from "./results";
export * from "./trades";
