// Validates Kubernetes objects (a JSON list on stdin) against the Kubernetes
// schemas of the npm package kubernetes-models (and the Prometheus
// Operator's for PodMonitor). Exits 1 naming the first invalid object.
// usage: node validate.mjs <node_modules dir> < objects.json
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import path from "node:path";

const modules = process.argv[2];
const models = {
  "v1/Namespace": ["kubernetes-models/v1", "Namespace"],
  "v1/ServiceAccount": ["kubernetes-models/v1", "ServiceAccount"],
  "v1/Service": ["kubernetes-models/v1", "Service"],
  "v1/ConfigMap": ["kubernetes-models/v1", "ConfigMap"],
  "apps/v1/DaemonSet": ["kubernetes-models/apps/v1", "DaemonSet"],
  "monitoring.coreos.com/v1/PodMonitor": ["@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1", "PodMonitor"],
};

const objects = JSON.parse(readFileSync(0, "utf8"));
let failed = 0;
for (const obj of objects) {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const where = models[key];
  if (!where) {
    console.error(`no schema for ${key} (${obj.metadata?.name})`);
    failed++;
    continue;
  }
  const mod = await import(pathToFileURL(path.join(modules, where[0], "index.js")).href);
  try {
    new mod[where[1]](obj).validate();
    console.log(`valid: ${key} ${obj.metadata?.name}`);
  } catch (e) {
    console.error(`INVALID ${key} ${obj.metadata?.name}: ${e.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
