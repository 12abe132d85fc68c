"""The shipped models, installed as lwlc.models (data for `python -m lwlc.demo`)."""
