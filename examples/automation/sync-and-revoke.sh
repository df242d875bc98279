#!/bin/sh
# Trigger a sync on an `sf-access serve` instance, wait for it to finish, then revoke a grant.
#
# Needs only curl and a POSIX shell. Configure with the environment:
#   SF_ACCESS_URL    the service, e.g. https://sf-access.internal:8080 (default http://127.0.0.1:8080)
#   SF_ACCESS_TOKEN  an API token of the service (required; never passed on the command line)
#   GRANT_ID         the grant to revoke, e.g. permission:0PS...:assigned:user:005... (required)
#   POLL_SECONDS     seconds between status polls (default 2)
#   DRY_RUN          true to plan the revoke without making it (default false)
#
# The revoke carries an Idempotency-Key, so running this script again after a network error
# returns the first answer instead of revoking twice. Exits non-zero when the sync fails or
# the revoke is refused; the service's JSON error explains why.
set -eu

url=${SF_ACCESS_URL:-http://127.0.0.1:8080}
: "${SF_ACCESS_TOKEN:?set SF_ACCESS_TOKEN to an API token of the service}"
: "${GRANT_ID:?set GRANT_ID to the grant to revoke}"
poll=${POLL_SECONDS:-2}
dry_run=${DRY_RUN:-false}

# The token goes in a header file read by curl, so it never shows in the process list.
headers=$(mktemp)
trap 'rm -f "$headers"' EXIT
printf 'Authorization: Bearer %s\n' "$SF_ACCESS_TOKEN" > "$headers"

# call METHOD PATH [curl args...]: prints the body, then the HTTP status on the last line.
call() {
  method=$1 path=$2
  shift 2
  curl --silent --show-error --header "@$headers" --request "$method" \
    --write-out '\n%{http_code}' "$@" "$url$path"
}

# field NAME: the first string value of "NAME" in the JSON on standard input.
field() {
  sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" | head -n 1
}

# 1. Start a sync; if one is already running, wait for that one instead.
response=$(call POST /v1/syncs)
status=$(printf '%s\n' "$response" | tail -n 1)
body=$(printf '%s\n' "$response" | sed '$d')
case $status in
  202) sync_id=$(printf '%s' "$body" | field id) ;;
  409) sync_id=$(printf '%s' "$body" | field running_id)
       echo "a sync is already running: waiting for $sync_id" >&2 ;;
  *)   echo "starting the sync failed (HTTP $status): $body" >&2; exit 1 ;;
esac
echo "sync $sync_id started" >&2

# 2. Wait for it.
while :; do
  response=$(call GET "/v1/syncs/$sync_id")
  status=$(printf '%s\n' "$response" | tail -n 1)
  body=$(printf '%s\n' "$response" | sed '$d')
  if [ "$status" != 200 ]; then
    echo "reading the sync status failed (HTTP $status): $body" >&2
    exit 1
  fi
  state=$(printf '%s' "$body" | field status)
  case $state in
    running) sleep "$poll" ;;
    succeeded) echo "sync $sync_id succeeded" >&2; break ;;
    *) echo "sync $sync_id failed: $body" >&2; exit 1 ;;
  esac
done

# 3. Revoke the grant. The key is derived from the grant and the sync, so a rerun of this
# script for the same sync replays the answer rather than revoking again.
key="revoke-$sync_id-$(printf '%s' "$GRANT_ID" | cksum | cut -d ' ' -f 1)"
response=$(call DELETE "/v1/grants/$GRANT_ID?dry_run=$dry_run" --header "Idempotency-Key: $key")
status=$(printf '%s\n' "$response" | tail -n 1)
body=$(printf '%s\n' "$response" | sed '$d')
if [ "$status" != 200 ]; then
  echo "revoking $GRANT_ID failed (HTTP $status): $body" >&2
  exit 1
fi
outcome=$(printf '%s' "$body" | field outcome)
echo "$GRANT_ID: $outcome"
