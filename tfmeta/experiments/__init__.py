"""End-to-end experiments built on the engine; the trainers are their CLIs."""
