// The GraphQL-over-HTTP conformance audit of the `graphql-http` package (its `serverAudits`),
// run against a live jobgraph server. Usage:
//   NODE_PATH=<dir with graphql-http and graphql> node .ci/graphql-http-audit.js URL TOKEN
// Every request carries the bearer token (jobgraph answers 401 without one). Prints each
// audit's outcome and the counts per level; exits 1 if any MUST audit fails.
'use strict';
const { serverAudits } = require('graphql-http');

const [url, token] = process.argv.slice(2);
if (!url || !token) {
  console.error('usage: node graphql-http-audit.js URL TOKEN');
  process.exit(2);
}

const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers || {});
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

(async () => {
  const audits = serverAudits({ url, fetchFn });
  const results = await Promise.all(audits.map(({ fn }) => fn()));
  const counts = {};
  let mustFailed = 0;
  for (const r of results) {
    const level = r.name.split(' ')[0];
    counts[level] ??= { ok: 0 };
    counts[level][r.status] = (counts[level][r.status] || 0) + 1;
    if (r.status !== 'ok') {
      console.log(`${r.status.toUpperCase()} ${r.id} ${r.name}: ${r.reason}`);
      if (r.status === 'error') mustFailed += 1;
    }
  }
  for (const [level, c] of Object.entries(counts)) {
    const failed = Object.entries(c).filter(([s]) => s !== "ok").reduce((n, [, v]) => n + v, 0);
    console.log(`${level}: ${c.ok} passed, ${failed} failed`);
  }
  console.log(`${results.length} audits`);
  process.exit(mustFailed > 0 ? 1 : 0);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
