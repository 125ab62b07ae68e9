"""channelgate's benchmark harness: ``make bench`` (``python -m bench``); see docs/benchmarks.md."""
