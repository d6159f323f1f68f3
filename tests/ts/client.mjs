// Drive `cwm-gateway serve --sandbox` (stdio) with the official TypeScript MCP SDK client, as
// MCP hosts do, and print what the client saw as JSON (tests/test_ts_client.py judges it).
//
// usage: node client.mjs <python> <data-dir> <cases.json>
// cases.json: [{"tool": name, "args": {...}}, ...]; "$saved_id" in args is replaced by the id
// the first save_to_fast_memory call returned.
import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [python, dataDir, casesFile] = process.argv.slice(2);
const cases = JSON.parse(readFileSync(casesFile, "utf8"));
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith("CONNECTWISE_")),
);
const transport = new StdioClientTransport({
  command: python,
  args: ["-m", "cwm_gateway.cli", "serve", "--sandbox", "--data-dir", dataDir],
  env,
  stderr: "ignore",
});
const client = new Client({ name: "cwm-ts-test", version: "1.0.0" });
await client.connect(transport);

const out = { tools: [], calls: [], prompts: [], completions: [] };
const listed = await client.listTools();
out.tools = listed.tools.map((t) => ({
  name: t.name,
  hasOutputSchema: Boolean(t.outputSchema),
  annotations: t.annotations ?? null,
}));

let savedId = null;
const fill = (value) =>
  JSON.parse(JSON.stringify(value).replaceAll('"$saved_id"', String(savedId)));

for (const c of cases) {
  const entry = { tool: c.tool, args: c.args };
  try {
    // callTool validates structuredContent against the tool's outputSchema (errors included).
    const result = await client.callTool({ name: c.tool, arguments: fill(c.args) });
    entry.isError = Boolean(result.isError);
    entry.text = (result.content ?? []).map((b) => b.text ?? "").join("\n");
    entry.structured = result.structuredContent ?? null;
    if (c.tool === "save_to_fast_memory" && !result.isError && savedId === null) {
      savedId = result.structuredContent.query.id;
    }
  } catch (error) {
    entry.thrown = String(error?.message ?? error);
  }
  out.calls.push(entry);
}

const prompts = await client.listPrompts();
for (const p of prompts.prompts) {
  const args = Object.fromEntries((p.arguments ?? []).map((a) => [a.name, "42"]));
  const got = await client.getPrompt({ name: p.name, arguments: args });
  out.prompts.push({ name: p.name, text: got.messages.map((m) => m.content.text).join("\n") });
}
for (const [uri, name, value] of [
  ["cwm://categories/{category}", "category", "serv"],
  ["cwm://operations/{operation_id}", "operation_id", "getServiceTicketsBy"],
  ["cwm://fast-memory/{query_id}", "query_id", ""],
]) {
  const got = await client.complete({
    ref: { type: "ref/resource", uri },
    argument: { name, value },
  });
  out.completions.push({ name, value, values: got.completion.values });
}
const pathCompletion = await client.complete({
  ref: { type: "ref/prompt", name: "call_endpoint" },
  argument: { name: "path", value: "/service/tic" },
});
out.completions.push({ name: "path", value: "/service/tic", values: pathCompletion.completion.values });

await client.close();
process.stdout.write(JSON.stringify(out));
