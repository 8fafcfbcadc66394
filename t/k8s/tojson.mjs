// Test tool: the YAML documents of FILE as JSON, one per line.
import { readFileSync } from "node:fs";
import yaml from "js-yaml";
for (const d of yaml.loadAll(readFileSync(process.argv[2], "utf8")))
  if (d !== null && d !== undefined) console.log(JSON.stringify(d));
