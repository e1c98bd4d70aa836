#!/bin/sh
# One-shot MinIO setup for the compose stack: the bucket, and a user that can only read and
# write that bucket (the jobs never hold the root credentials). Idempotent.
set -eu

mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "local/$BUCKET"

# Archive retention: objects expire RETENTION_DAYS after they were written (object age =
# ingestion age, the same clock as the tables' TTL; docs/retention.md). 0 = keep forever.
if [ "${RETENTION_DAYS:-0}" -gt 0 ]; then
  for prefix in parquet/raw_events/ parquet/calculated_metrics/; do
    mc ilm rule ls "local/$BUCKET" 2>/dev/null | grep -q "$prefix" ||
      mc ilm rule add --prefix "$prefix" --expire-days "$RETENTION_DAYS" "local/$BUCKET"
  done
fi

cat > /tmp/netpulse-policy.json <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket",
      "s3:ListBucketMultipartUploads"], "Resource": ["arn:aws:s3:::$BUCKET"]},
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
      "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      "Resource": ["arn:aws:s3:::$BUCKET/*"]}
  ]
}
JSON
mc admin policy create local netpulse-rw /tmp/netpulse-policy.json >/dev/null 2>&1 || true
mc admin user add local "$APP_KEY" "$APP_SECRET"
mc admin policy attach local netpulse-rw --user "$APP_KEY" >/dev/null 2>&1 || true
echo "bucket $BUCKET ready; user $APP_KEY has read/write on it"
