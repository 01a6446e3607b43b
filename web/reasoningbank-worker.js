// The dedicated worker behind `ReasoningBank.load({ worker: true })`: Pyodide and the banks
// live here, off the page's thread. Messages: {id, handle, method, args} in, {id, value} or
// {id, error: {name, message, field, patternId}} out. "load" opens a bank (args: the load
// options) and answers {handle, timings}; any other method goes to that bank as the page's
// own call would (so every API method, present or future, works through the worker).
import { ReasoningBank } from "./reasoningbank.js";

const banks = new Map(); // handle -> ReasoningBank

async function run(handle, method, args) {
  if (method === "load") {
    const bank = await ReasoningBank.load({ ...args[0], worker: false });
    banks.set(bank._handle, bank);
    return { handle: bank._handle, timings: bank.timings };
  }
  const bank = banks.get(handle);
  if (!bank) {
    throw Object.assign(new Error("this bank is closed; open it again with ReasoningBank.load()"), {
      name: "BankClosed",
    });
  }
  if (method === "close") banks.delete(handle);
  if (method === "findSimilar") return bank.findSimilar(...args); // its own, faster path
  return bank._call(method, ...args);
}

globalThis.onmessage = async ({ data: { id, handle, method, args } }) => {
  try {
    globalThis.postMessage({ id, value: await run(handle, method, args) });
  } catch (e) {
    globalThis.postMessage({
      id,
      error: {
        name: e?.name || "Error",
        message: String(e?.message ?? e),
        field: e?.field ?? null,
        patternId: e?.patternId ?? null,
      },
    });
  }
};
