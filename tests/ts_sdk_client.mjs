// The official TypeScript MCP SDK (npm @modelcontextprotocol/sdk 1.x, what most MCP servers and
// clients are built on) as a client of DOTM: lists the tools (the SDK validates the whole list
// against its own schema), calls a public tool and, with a sign-in token, a signed-in one.
// Prints one JSON object for tests/test_mcp_ts_clients.py.
//
//   node tests/ts_sdk_client.mjs <mcp url> [<bearer token>]
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token] = process.argv.slice(2);
const headers = token ? { Authorization: `Bearer ${token}` } : {};
const client = new Client({ name: "dotm-ts-sdk-check", version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
await client.connect(transport);
const listed = await client.listTools();
const search = await client.callTool({ name: "search_services", arguments: { query: "vpn" } });
const out = {
  protocolVersion: transport.protocolVersion ?? null,
  server: client.getServerVersion(),
  tools: listed.tools.map((t) => t.name),
  search: { isError: search.isError ?? false, structured: search.structuredContent ?? null },
};
if (token) {
  const account = await client.callTool({ name: "my_account", arguments: {} });
  out.account = { isError: account.isError ?? false, structured: account.structuredContent ?? null };
}
await client.close();
console.log(JSON.stringify(out));
