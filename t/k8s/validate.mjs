// Test tool, not product code: validates Kubernetes manifests offline.
//   node t/k8s/validate.mjs FILE...
// Every document of every file must be a kind we know, pass the schema of
// its kind (kubernetes-models: the Kubernetes OpenAPI schemas, and the
// Prometheus Operator CRDs for PrometheusRule and ServiceMonitor: types,
// required fields, enums, formats), and have no field the schema does not
// name (TypeScript's excess property check over the same models' types:
// the schemas alone allow unknown fields, which a typo would be).
// Prints one line per problem and exits 1 when there is one; prints
// "ok N documents" otherwise.
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import yaml from "js-yaml";
import { ConfigMap, Secret, Service } from "kubernetes-models/v1";
import { CronJob } from "kubernetes-models/batch/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { PrometheusRule, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const here = dirname(fileURLToPath(import.meta.url));
const kinds = {
  "v1/ConfigMap": [ConfigMap, "kubernetes-models/v1/ConfigMap", "IConfigMap"],
  "v1/Secret": [Secret, "kubernetes-models/v1/Secret", "ISecret"],
  "v1/Service": [Service, "kubernetes-models/v1/Service", "IService"],
  "batch/v1/CronJob": [CronJob, "kubernetes-models/batch/v1/CronJob", "ICronJob"],
  "apps/v1/Deployment": [Deployment, "kubernetes-models/apps/v1/Deployment", "IDeployment"],
  "monitoring.coreos.com/v1/PrometheusRule": [PrometheusRule,
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule", "IPrometheusRule"],
  "monitoring.coreos.com/v1/ServiceMonitor": [ServiceMonitor,
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor", "IServiceMonitor"],
};

const problems = [];
const checks = [];
let n = 0;
for (const file of process.argv.slice(2)) {
  let docs;
  try {
    docs = yaml.loadAll(readFileSync(file, "utf8"));
  } catch (e) {
    problems.push(`${file}: not YAML: ${e.message.split("\n")[0]}`);
    continue;
  }
  docs.forEach((doc, i) => {
    if (doc === null || doc === undefined) return;
    n++;
    const where = `${file}: document ${i + 1}`;
    const key = `${doc.apiVersion}/${doc.kind}`;
    const k = kinds[key];
    if (!k) {
      problems.push(`${where}: unknown apiVersion/kind '${key}'`);
      return;
    }
    try {
      new k[0](doc).validate();
    } catch (e) {
      problems.push(`${where} (${doc.kind} ${doc.metadata?.name}): ${e.message}`);
    }
    checks.push({ where, k, doc });
  });
}

// the excess property check: one TypeScript file assigning every document,
// as an object literal, to the interface of its kind
if (checks.length) {
  const dir = mkdtempSync(join(tmpdir(), "k8s-check-"));
  const imports = new Map();
  let body = "";
  checks.forEach((c, i) => {
    imports.set(c.k[1], c.k[2]);
    body += `// ${c.where}\nexport const d${i}: ${c.k[2]} = ${JSON.stringify(c.doc, null, 1)};\n`;
  });
  let head = "";
  for (const [mod, name] of imports) head += `import type { ${name} } from "${mod}";\n`;
  const src = join(dir, "check.ts");
  writeFileSync(src, head + body);
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext",
                       target: "es2022", skipLibCheck: true, baseUrl: here,
                       typeRoots: [], types: [], paths: { "*": [join(here, "node_modules", "*")] } },
    files: [src],
  }));
  try {
    execFileSync(process.execPath, [join(here, "node_modules", "typescript", "bin", "tsc"), "-p", dir],
                 { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const lines = (e.stdout || "").split("\n").filter((l) => l.includes("error TS"));
    const text = readFileSync(src, "utf8").split("\n");
    for (const l of lines) {
      // check.ts(LINE,COL): error TSnnnn: message -> the document it is in
      const m = /check\.ts\((\d+),\d+\): (.*)$/.exec(l);
      let doc = "?";
      if (m) for (let j = Number(m[1]) - 1; j >= 0; j--) if (text[j].startsWith("// ")) { doc = text[j].slice(3); break; }
      problems.push(`${doc}: ${m ? m[2] : l}`);
    }
    if (!lines.length) problems.push(`tsc failed: ${(e.stderr || e.stdout || e.message).split("\n")[0]}`);
  }
  rmSync(dir, { recursive: true, force: true });
}

for (const p of problems) console.log(p);
if (problems.length) process.exit(1);
console.log(`ok ${n} documents`);
