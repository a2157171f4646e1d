"""Tests of serving/: TF Serving clients against loopback stand-ins."""
