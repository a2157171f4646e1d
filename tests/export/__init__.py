"""Tests of export/: SavedModels with in-graph adaptation."""
