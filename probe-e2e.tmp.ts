import { startLocalStack } from "./local/stack";
import { pipelineClients, putAndRun, orderSubmitted, executionOf } from "./tests/support/pipeline";
const stack = await startLocalStack({ stage: "probe", timing: { taskRetryMs: 200 } });
const c = pipelineClients(stack);
const mk = (i: number) => orderSubmitted(stack.resources.bus, { clientId: "p", orderId: `P-${i}`, symbol: "AAPL", side: "BUY", price: (90 + i / 100).toFixed(2), quantity: "10" });
for (const [label, from, n] of [["warm4", 0, 4], ["burst12", 4, 12], ["again12", 16, 12]] as const) {
  const t0 = Date.now();
  const ids = await putAndRun(stack, c.events, Array.from({ length: n }, (_, i) => mk(from + i)));
  const rec = ids.map((id) => executionOf(stack, id).trace.find((s) => s.state === "Record")?.durationMs);
  console.log(label, Date.now() - t0, "ms; Record ms:", rec.join(","));
}
c.destroy();
await stack.stop();
