// Lints an OpenAPI document with Redocly's recommended rules, offline.
//
//	node lint.mjs <document.json>
//
// Prints one line per problem ("error|warn <rule> <JSON pointer>: <message>") and
// exits 1 when any problem is an error.
import { readFile } from 'node:fs/promises';
import { createConfig, lintFromString } from '@redocly/openapi-core';

const file = process.argv[2];
if (!file) {
  console.error('usage: node lint.mjs <document.json>');
  process.exit(2);
}
const config = await createConfig({ extends: ['recommended'] });
const problems = await lintFromString({ source: await readFile(file, 'utf8'), absoluteRef: file, config });
let errors = 0;
for (const p of problems) {
  if (p.severity === 'error') errors++;
  const where = p.location?.[0]?.pointer ?? '';
  console.log(`${p.severity} ${p.ruleId} ${where}: ${p.message}`);
}
console.log(`${problems.length} problems, ${errors} errors`);
process.exit(errors > 0 ? 1 : 0);
