"""SavedModel exports of meta-learned initializations and of the adaptation step."""
