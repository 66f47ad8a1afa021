export * from "./alerter";
export * from "./crossing";
export * from "./tick";
