// The cold-start baseline: a module with a handler and no dependencies.
export const handler = async () => ({ ok: true });
