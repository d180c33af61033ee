#!/usr/bin/env bash
# The Kubernetes manifests, offline: kustomize builds them, every object
# validates against the Kubernetes schemas (kubernetes-models from npm), and
# yamllint is clean. usage: check.sh <source dir> <scratch dir>
set -euo pipefail
src=$1 scratch=$2
mkdir -p "$scratch"
kubectl kustomize "$src/deploy/kubernetes" > "$scratch/manifests.yaml"
if [[ ! -d "$scratch/node_modules/kubernetes-models" ]]; then
  npm install --prefix "$scratch" --no-audit --no-fund --silent \
    kubernetes-models@5 @kubernetes-models/prometheus-operator@6
fi
python3 -c 'import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)' \
  < "$scratch/manifests.yaml" > "$scratch/manifests.json"
node "$src/tests/kubernetes/validate.mjs" "$scratch/node_modules" < "$scratch/manifests.json"
yamllint -s -c "$src/deploy/kubernetes/.yamllint" "$src"/deploy/kubernetes/*.yaml
echo "kubernetes manifests: kustomize, schemas and yamllint ok"
