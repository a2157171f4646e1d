"""Tests of the metric-based few-shot learners (Prototypical, Matching, Relation, Siamese)."""
