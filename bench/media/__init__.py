"""Media benchmarks: each module measures one job type against a bare ffmpeg baseline in the
same run. Run them all with `uv run python -m bench.media` (see __main__.py)."""
