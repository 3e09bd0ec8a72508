#!/usr/bin/env bash
# A walk-through of the HTTP API with curl and jq: upload a model and a batch, run a Hessian job, poll it, download
# hessian.npy. Run against `npm start` (default http://127.0.0.1:3000), from the repository root:
#
#   examples/curl-walkthrough.sh [BASE_URL] [MODEL_DIR]
#
# MODEL_DIR holds model.json, its shard(s), inputs.npy and targets.npy (default: a small golden test case).
# With API keys on, export HESSIAN_API_KEY=<key>.
set -euo pipefail
BASE=${1:-http://127.0.0.1:3000}
DIR=${2:-test/fixtures/golden/mlp_tanh_cce_fused}
AUTH=()
if [ -n "${HESSIAN_API_KEY:-}" ]; then AUTH=(-H "Authorization: Bearer $HESSIAN_API_KEY"); fi

# 1. Upload the model: one `model` part, one `weights` part per shard listed in the manifest.
WEIGHTS=()
for shard in $(jq -r '.weightsManifest[].paths[]' "$DIR/model.json"); do WEIGHTS+=(-F "weights=@$DIR/$shard"); done
MODEL=$(curl -sS --fail-with-body "${AUTH[@]}" -F "model=@$DIR/model.json" "${WEIGHTS[@]}" "$BASE/v1/models")
MODEL_ID=$(jq -r .id <<<"$MODEL")
echo "model $MODEL_ID: $(jq -c '{numParams, inputShape, outputShape}' <<<"$MODEL")"

# 2. Upload the batch (or: -F npz=@batch.npz, or a JSON body {"inputs": [...], "targets": [...]}).
DATASET=$(curl -sS --fail-with-body "${AUTH[@]}" -F "inputs=@$DIR/inputs.npy" -F "targets=@$DIR/targets.npy" \
  "$BASE/v1/datasets")
DATASET_ID=$(jq -r .id <<<"$DATASET")
echo "dataset $DATASET_ID: $(jq -c '{numExamples, inputs, targets}' <<<"$DATASET")"

# 3. Submit a job. The Idempotency-Key makes a retry of this exact request return the same job.
LOSS=$(jq -c .loss "$DIR/case.json" 2>/dev/null || echo '{"name":"categorical_crossentropy"}')
JOB=$(curl -sS --fail-with-body "${AUTH[@]}" -H 'Content-Type: application/json' \
  -H "Idempotency-Key: walkthrough-$MODEL_ID-$DATASET_ID" \
  -d "{\"modelId\":\"$MODEL_ID\",\"datasetId\":\"$DATASET_ID\",\"loss\":$LOSS,\"method\":{\"name\":\"hessian\"}}" \
  "$BASE/v1/jobs")
JOB_ID=$(jq -r .id <<<"$JOB")
echo "job $JOB_ID: $(jq -r .status <<<"$JOB")"

# 4. Poll until it has finished (the response's Retry-After says how long to wait between polls).
while :; do
  JOB=$(curl -sS "${AUTH[@]}" "$BASE/v1/jobs/$JOB_ID")
  STATUS=$(jq -r .status <<<"$JOB")
  echo "  $STATUS $(jq -r '.progress | "\(.completed)/\(.total)"' <<<"$JOB")"
  case $STATUS in succeeded | failed | cancelled) break ;; esac
  sleep 1
done
[ "$STATUS" = succeeded ] || { jq .error <<<"$JOB"; exit 1; }
jq '.result | {summary: (.summary | {verification}), artifacts: [.artifacts[] | {name, shape, bytes}]}' <<<"$JOB"

# 5. Download the result (.npy, float32, C order): numpy.load("hessian.npy").
curl -sS --fail-with-body "${AUTH[@]}" -o hessian.npy "$BASE/v1/jobs/$JOB_ID/artifacts/hessian.npy"
echo "wrote hessian.npy ($(wc -c <hessian.npy) bytes)"

# Errors are application/problem+json with a stable code, e.g. an unknown job:
curl -sS "${AUTH[@]}" "$BASE/v1/jobs/00000000-0000-0000-0000-000000000000" | jq -c '{status, code, detail}'
