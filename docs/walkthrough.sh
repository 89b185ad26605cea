#!/usr/bin/env bash
# The README's walkthrough, from a shell: a project, a source video, 2 generated variants, a
# voice-over script and subtitles for the first one, a render for Instagram Reels followed to its
# end, and the mp4 downloaded. Works offline (the offline voice speaks when edge-tts is out of reach).
#
#   EF=http://127.0.0.1:8000/api/v1 TOKEN=<api token> docs/walkthrough.sh talk.mp4 [out.mp4]
#
# Needs curl and python3 (for reading JSON). Exits non-zero, saying why, when a step fails.
set -euo pipefail
EF="${EF:-http://127.0.0.1:8000/api/v1}"
VIDEO="${1:?usage: walkthrough.sh VIDEO [OUT]}"
OUT="${2:-clip.mp4}"
: "${TOKEN:?set TOKEN (uv run manage.py create_api_token admin --quiet)}"
auth="Authorization: Bearer $TOKEN"

field() { python3 -c 'import json, sys; d = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    d = d[int(key)] if isinstance(d, list) else d[key]
print(d)' "$1"; }
api() { curl -sS --fail-with-body -H "$auth" "$@"; }
# Poll a URL until FIELD is one of the wanted values; fail on "failed" or after ~5 minutes.
wait_for() {
  local url=$1 key=$2 want=$3 answer value
  for _ in $(seq 300); do
    answer=$(api "$url")
    value=$(field "$key" <<<"$answer")
    echo "  $answer"
    [[ " $want " == *" $value "* ]] && return 0
    [[ $value == failed ]] && { echo "failed: $answer" >&2; return 1; }
    sleep 1
  done
  echo "gave up waiting for $url" >&2; return 1
}

echo "1. A project, and the video uploaded into it to generate 2 variants of 3 s"
project=$(api -H 'Content-Type: application/json' -d '{"name": "Launch teaser"}' \
  "$EF/library/projects" | field id)
api -F "file=@$VIDEO" -F variant_count=2 -F target_duration=3 \
  "$EF/library/projects/$project/generate" >/dev/null

echo "2. The generation, followed until the project is ready for triage"
wait_for "$EF/library/projects/$project" status "ready_for_triage"
api "$EF/library/projects/$project/progress"; echo

echo "3. The first variant gets a voice-over script and subtitles"
clip=$(api "$EF/library/projects/$project/clips" | field items.0.id)
api -X PUT -H 'Content-Type: application/json' \
  -d '{"tts_text": "Hello from Edit Factory.", "srt": "1\n00:00:00,000 --> 00:00:02,000\nHello!\n"}' \
  "$EF/library/clips/$clip/content" >/dev/null

echo "4. A render for Instagram Reels, followed to its end, then the download"
api -H 'Content-Type: application/json' -d '{"preset": "instagram_reels"}' \
  "$EF/library/clips/$clip/render" >/dev/null
wait_for "$EF/library/clips/$clip/render/progress" status "completed"
api -o "$OUT" "$EF/library/clips/$clip/download"
echo "Downloaded $OUT ($(wc -c <"$OUT") bytes)."
