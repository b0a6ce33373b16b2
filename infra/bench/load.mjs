// The load generator of `make bench`: autocannon (npm, installed by infra/bench/run.sh), driven
// from its API so that every response's latency is kept at full resolution (autocannon's own
// percentiles are whole milliseconds, too coarse for a server that answers in 100 µs).
//
//   node infra/bench/load.mjs URL BODY_FILE CONNECTIONS REQUESTS WARMUP OUT.json
//
// POSTs BODY_FILE to URL with an MCP client's headers over CONNECTIONS keep-alive HTTP/1.1
// connections, one request at a time on each (no pipelining): WARMUP requests first (not
// counted), then exactly REQUESTS. Writes requests/s (completed / wall time of the measured
// run), latency percentiles in ms (p50, p90, p99, p99.9, max, and every whole percentile for the
// plots) and the count of errors and non-2xx answers (which must be 0: infra/bench/mcp_bench.py
// checks the answers' content before it measures).
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(process.env.AUTOCANNON_DIR ? process.env.AUTOCANNON_DIR + '/' : import.meta.url)
const autocannon = require('autocannon')

const [url, bodyFile, connections, requests, warmup, out] = process.argv.slice(2)
const body = readFileSync(bodyFile, 'utf8')
// x-forwarded-for: what API Gateway (and infra/gateway.py) append, and what the rate limit reads
// the client's address from; 127.0.0.1 is exempt in the benchmark's stack (run.sh).
const headers = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': process.env.MCP_PROTOCOL_VERSION || '2025-06-18',
  'x-forwarded-for': '127.0.0.1'
}

// Requests/s is measured from the start to the last response: autocannon itself only notices
// that `amount` is reached on its 1-second tick, so its own duration rounds up to whole seconds.
function run (amount, conns, keep) {
  return new Promise((resolve, reject) => {
    const latencies = keep ? new Float64Array(amount + conns) : null
    let n = 0
    const started = process.hrtime.bigint()
    let last = started
    const instance = autocannon({
      url, method: 'POST', headers, body, connections: conns, amount, timeout: 30, pipelining: 1
    }, (err, result) => {
      const seconds = Number(last - started) / 1e9
      if (err) return reject(err)
      resolve({ result, seconds, latencies: keep ? latencies.slice(0, n) : null })
    })
    instance.on('response', (_client, _status, _bytes, ms) => {
      last = process.hrtime.bigint()
      if (keep && n < latencies.length) latencies[n++] = ms
    })
  })
}

function pct (sorted, p) {
  // nearest rank
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))
  return sorted[k]
}

const c = Number(connections)
if (Number(warmup) > 0) await run(Number(warmup), c, false)
const { result, seconds, latencies } = await run(Number(requests), c, true)
latencies.sort()
const total = result.requests.total
const every = []
for (let p = 0; p <= 100; p += 1) every.push(pct(latencies, Math.max(p, 0.0001)))
const summary = {
  url,
  connections: c,
  requests: total,
  seconds,
  rps: total / seconds,
  p50_ms: pct(latencies, 50),
  p90_ms: pct(latencies, 90),
  p99_ms: pct(latencies, 99),
  p999_ms: pct(latencies, 99.9),
  max_ms: latencies[latencies.length - 1],
  mean_ms: latencies.reduce((a, b) => a + b, 0) / latencies.length,
  percentiles_ms: every,
  errors: result.errors,
  timeouts: result.timeouts,
  non2xx: result.non2xx
}
writeFileSync(out, JSON.stringify(summary))
console.log(JSON.stringify({ rps: summary.rps, p50_ms: summary.p50_ms, p99_ms: summary.p99_ms, errors: summary.errors, non2xx: summary.non2xx }))
