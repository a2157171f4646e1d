"""Command-line trainers: absl flags -> frozen config -> a tfmeta library call."""
