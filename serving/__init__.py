"""TF Serving configuration and clients; nothing here imports tfmeta."""
